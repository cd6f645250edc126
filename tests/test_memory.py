"""Workers give freed heap memory back to the operating system after a drain, at most once per interval."""

import time

from commhub import memory


def test_the_heap_is_trimmed_at_most_once_per_interval(settings):
    settings.COMMHUB = {**settings.COMMHUB, "MALLOC_TRIM_SECONDS": 0.2}
    memory._last = 0.0
    junk = [bytearray(4096) for _ in range(20_000)]  # ~80 MB of small blocks, then freed
    del junk
    assert memory.release_freed_memory() is True
    assert memory.release_freed_memory() is False  # within the interval
    time.sleep(0.25)
    assert memory.release_freed_memory() is True
    settings.COMMHUB = {**settings.COMMHUB, "MALLOC_TRIM_SECONDS": 0}
    time.sleep(0.25)
    assert memory.release_freed_memory() is False  # switched off
