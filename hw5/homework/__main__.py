"""`python -m hw5.homework [--quick]`: the whole homework in one run (hw5.homework.run.main)."""
import sys

from hw5.homework.run import main

sys.exit(main())
