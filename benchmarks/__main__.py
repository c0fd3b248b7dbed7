"""`python -m benchmarks`: the whole suite (see benchmarks/README.md)."""

import sys

from benchmarks.environment import SRC

# The suite's own llmchat imports (starting llama-server) come from this checkout too,
# like the children's (see benchmarks/environment.py).
sys.path.insert(0, str(SRC))

from benchmarks.run import main

sys.exit(main())
