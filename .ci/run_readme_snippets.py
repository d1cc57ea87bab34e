"""Run every ```python block of README.md, so that the usage shown works.

Usage: python .ci/run_readme_snippets.py [README.md]
"""

import re
import sys
import time
from pathlib import Path

readme = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md").read_text()
blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
if not blocks:
    sys.exit("README.md has no python blocks")
for number, code in enumerate(blocks, 1):
    start = time.perf_counter()
    exec(compile(code, f"README.md python block {number}", "exec"), {})
    print(f"README python block {number}: ok ({time.perf_counter() - start:.1f} s)")
