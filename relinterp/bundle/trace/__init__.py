"""Run-time discovery: run a program under a tracer and list the files it used
(relinterp.bundle.trace.run → relinterp.bundle.trace.model.Trace).  Tracing only
produces the list; relinterp.bundle.traced decides what the tree gets from it."""
