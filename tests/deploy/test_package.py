"""The installed package (what the container image runs) carries every migration and data file:
an editable checkout hides a file that `pip install .` would leave out."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_every_migration_and_data_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("zhicheng-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [p for pattern in ("services/*/migrations/**/*.py", "services/**/*.yaml",
                                "shared/**/*.yaml")
              for p in ROOT.glob(pattern) if "__pycache__" not in p.parts]
    assert wanted, "nothing to look for"
    missing = [str(p.relative_to(ROOT)) for p in wanted
               if str(p.relative_to(ROOT)) not in names]
    assert not missing, f"not in the wheel: {missing}"
