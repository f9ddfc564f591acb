"""Hardware: the GPU and CPU-platform databases (``db``, ``cpus``), name matching
(``match``) and detection of this machine (``detect``).

The databases and the matcher are pure data + functions; detection is an adapter that
reads drivers, sysfs and macOS tools and never raises for a missing driver.
"""
