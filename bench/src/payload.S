/* payload.bin (random bytes written by run.py) as read-only data. */
    .section .rodata
    .globl payload, payload_end
    .balign 16
payload:
    .incbin "payload.bin"
payload_end:

    .section .note.GNU-stack, "", @progbits
