# A hostile robot: it tries to reach what belongs to the hub and to other
# runs, and prints ESCAPE for each thing it manages, DENIED otherwise. It
# also does what a normal robot does (import a module of its package, write
# an output file and a temp file) and prints OK for each.
import glob, os, subprocess, sys, tempfile

import helper  # a module of the package

def attempt(what, fn):
    try:
        fn()
        print("ESCAPE " + what)
    except OSError as e:
        print("DENIED %s (%s)" % (what, e.__class__.__name__))

def read(path):
    with open(path, "rb") as f:
        f.read(1)

def listdir(path):
    os.listdir(path)

def write(path):
    with open(path, "a") as f:
        f.write("print('poisoned')\n")

ws = os.getcwd()                       # DATA/worker/runs/<id>/workspace
run_dir = os.path.dirname(ws)
data = os.path.dirname(os.path.dirname(os.path.dirname(run_dir)))
other_file = sys.argv[1]               # a file of another run's working copy

attempt("hub environ", lambda: read("/proc/%d/environ" % os.getppid()))
for p in glob.glob("/proc/[0-9]*/environ"):
    pid = p.split("/")[2]
    if pid not in (str(os.getpid()), "self"):
        attempt("environ of pid " + pid, lambda p=p: read(p))
attempt("database", lambda: read(os.path.join(data, "hub.db")))
attempt("secret key", lambda: read(os.path.join(data, "secret_key")))
attempt("list data folder", lambda: listdir(data))
attempt("list runs", lambda: listdir(os.path.dirname(run_dir)))
attempt("other run", lambda: read(other_file))
attempt("list cache", lambda: listdir(os.path.join(data, "worker", "cache")))
attempt("write cache", lambda: write(os.path.join(data, "worker", "cache", "poison.py")))
attempt("list artifacts", lambda: listdir(os.path.join(data, "artifacts")))
attempt("shadow", lambda: read("/etc/shadow"))
attempt("shared tmp", lambda: write("/tmp/hub-escape-probe"))

# A daemon that leaves the robot's process group and session: it must die
# with the run all the same.
daemon = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
print("DAEMON %d" % daemon.pid)

print("OK helper " + helper.NAME)
with open(os.path.join(os.environ["HUB_OUTPUT_DIR"], "report.txt"), "w") as f:
    f.write("written by a confined robot\n")
print("OK output")
with tempfile.NamedTemporaryFile(dir=None) as t:
    t.write(b"x")
    print("OK temp " + os.path.dirname(t.name))
