"""Run-time discovery: run a program under a tracer and list the files it used
(relinterp.trace.run → relinterp.trace.model.Trace).  Tracing only
produces the list; relinterp.bundle.traced decides what the tree gets from it."""
