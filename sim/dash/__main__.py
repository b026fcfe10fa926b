"""The dashboard's server process: Solara's own command, ended with the `gridsim dash` that started it.

`gridsim dash` starts this as its child; a thread here exits the process as soon as that parent
is gone, however it ended (even `kill -9`), so no server is left holding the port.
"""

import os
import sys
import threading

from solara.__main__ import main

from ..experiments.sweep import watch_parent

parent = int(os.environ["GRIDSIM_DASH_PARENT"])
threading.Thread(target=watch_parent, args=(parent, parent), daemon=True, name="gridsim-watch-parent").start()
sys.exit(main())
