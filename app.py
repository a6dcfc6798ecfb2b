"""BiGR Studio in the browser: `python app.py` serves the bundled model on http://127.0.0.1:7860."""
import sys

from bigr_app.app.serve import main, parse_args  # noqa: F401  (parse_args: the app's flags, for tests and tools)

if __name__ == "__main__":
    sys.exit(main())
