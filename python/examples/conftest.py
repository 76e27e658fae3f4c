import sys
from pathlib import Path

# The examples import each other as scripts do.
sys.path.insert(0, str(Path(__file__).parent))
