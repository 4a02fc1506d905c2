"""Peak memory of a fresh interpreter, for tests that bound it.

``ru_maxrss`` is no use here: Linux keeps, across ``exec``, the peak of the process that forked
the child (a pytest worker's hundreds of MB), so a child's growth would read as zero and a bound
could never fail. ``VmHWM`` is the child's own peak.
"""

#: Python source defining ``peak_rss()``: this process's peak RSS in bytes, since exec
PEAK_RSS = '''
def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
'''
