# Run by `cmake --install` (see relinterp_patch() in relinterpConfig.cmake): patches the
# installed executable named by _relinterp_destination and _relinterp_file_name.
if(IS_ABSOLUTE "${_relinterp_destination}")
  set(_relinterp_file "$ENV{DESTDIR}${_relinterp_destination}/${_relinterp_file_name}")
else()
  set(_relinterp_file "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${_relinterp_destination}/${_relinterp_file_name}")
endif()
if(NOT EXISTS "${_relinterp_file}")
  message(FATAL_ERROR "relinterp_patch: ${_relinterp_file} was not installed: give relinterp_patch() "
                      "the DESTINATION of the target's install(TARGETS ...) rule, and call it in "
                      "the same directory")
endif()
message(STATUS "relinterp: patching ${_relinterp_file}")
execute_process(COMMAND "${_relinterp_executable}" patch "${_relinterp_file}" ${_relinterp_options}
                RESULT_VARIABLE _relinterp_status)
if(NOT _relinterp_status EQUAL 0)
  message(FATAL_ERROR "relinterp_patch: relinterp patch ${_relinterp_file} failed (exit status "
                      "${_relinterp_status})")
endif()
