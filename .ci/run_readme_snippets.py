"""Run every ```python block of a markdown file (README.md by default), so
that the usage shown works.

Usage: python .ci/run_readme_snippets.py [README.md | docs/user_guide.md]
"""

import re
import sys
import time
from pathlib import Path

path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
blocks = re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
if not blocks:
    sys.exit(f"{path} has no python blocks")
for number, code in enumerate(blocks, 1):
    start = time.perf_counter()
    exec(compile(code, f"{path} python block {number}", "exec"), {})
    print(f"{path} python block {number}: ok ({time.perf_counter() - start:.1f} s)")
