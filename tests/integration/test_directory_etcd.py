"""test_directory_etcd.py: every case of test_directory.py again, with capdird keeping the directory in a real etcd (one member on loopback)."""
import os
import runpy

os.environ["CAPDIR_STORE"] = "etcd"
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_directory.py"),
               run_name="__main__")
