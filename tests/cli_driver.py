"""Runs several `python -m MODULE ARGS...` command lines in one Python process, one after the other:
`python tests/cli_driver.py PLAN.json`.

Each command is run as `python -m` runs it: the module (a package: its __main__) is executed afresh as __main__, so
its `if __name__ == "__main__":` block runs and sees every name the module defines above and below it, with
sys.argv = [its file, *ARGS]; absl's flags are reset to their defaults before each command. What one command
prints goes to its own files, and its exit status is the one Python would give: 0, the code of SystemExit, or 1
(a message passed to sys.exit is printed to stderr, an uncaught exception's traceback too). A command cannot see
flags, values or objects of the commands before it, but it shares their imported modules, so TensorFlow's start-up
(seconds) is paid once per plan. (It also accepts a flag that only an earlier command's module defines.)

PLAN.json: [{"module": "apps.train", "args": [...], "stdout": PATH, "stderr": PATH, "status": PATH}, ...]; each
status file gets {"status": exit status, "seconds": how long the command took}.
"""

import contextlib
import json
import runpy
import sys
import time
import traceback


def run(module, args):
    """The exit status of `python -m module *args`, run in this process."""
    from absl import flags  # pylint: disable=g-import-not-at-top

    if flags.FLAGS.is_parsed():
        flags.FLAGS.unparse_flags()
    sys.argv = [module, *args]  # runpy puts the module's file first
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        return 1
    return 0


def main(plan_file):
    with open(plan_file) as f:
        plan = json.load(f)
    for command in plan:
        start = time.time()
        with open(command["stdout"], "w") as out, open(command["stderr"], "w") as err:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                status = run(command["module"], command["args"])
                sys.stdout.flush()
        with open(command["status"], "w") as f:
            json.dump({"status": status, "seconds": time.time() - start}, f)


if __name__ == "__main__":
    main(sys.argv[1])
