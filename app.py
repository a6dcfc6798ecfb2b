"""BiGR Studio in the browser: `python app.py` serves the bundled model on http://127.0.0.1:7860."""
import os
import sys

if __name__ == "__main__" and "OMP_NUM_THREADS" not in os.environ:  # before torch loads: see bigr_app.app.pool
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ.update(OMP_NUM_THREADS="1", BIGR_CORES=str(cores))

from bigr_app.app.serve import main, parse_args  # noqa: E402,F401  (parse_args: the app's flags, for tests and tools)

if __name__ == "__main__":
    sys.exit(main())
