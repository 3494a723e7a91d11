"""graphc's optional packages (graphviz, matplotlib, tensorboard, onnx, Ray), each missing: the
feature that needs it raises gc.errors.MissingDependencyError (an ImportError and a GraphcError),
whose message names the package and the command that installs it; nothing else fails."""
import json
import subprocess
import sys

CODE = r'''
import json, sys, tempfile
for name in ("graphviz", "matplotlib", "tensorboard", "onnx", "ray"):
    sys.modules[name] = None  # an import of it raises ImportError
import numpy as np
import graphc as gc

fn = gc.function(lambda x: x * 2)
concrete = fn.get_concrete_function(np.ones(3, np.float32))
where = tempfile.mkdtemp()
features = {
    "graphviz": lambda: gc.viz.to_dot(concrete),
    "matplotlib": lambda: gc.viz.plot_history({"loss": [1.0, 0.5]}, where + "/h.png"),
    "tensorboard": lambda: gc.summary.create_file_writer(where),
    "onnx": lambda: gc.onnx.export(fn, gc.TensorSpec([3]), path=where + "/f.onnx"),
    "ray": lambda: gc.distribute.RayStrategy().run(lambda: 1),
}
report = {}
for package, use in features.items():
    try:
        use()
        report[package] = None
    except Exception as error:
        report[package] = [type(error).__name__, isinstance(error, gc.errors.MissingDependencyError),
                           isinstance(error, ImportError), str(error)]
print(json.dumps(report))
'''


def test_each_missing_optional_package_is_one_kind_of_error_naming_its_install_command():
    run = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    installs = {"graphviz": "pip install graphviz", "matplotlib": "pip install 'graphc[plot]'",
                "tensorboard": "pip install 'graphc[tensorboard]'", "onnx": "pip install 'graphc[onnx]'",
                "ray": "pip install 'graphc[distributed]'"}
    for package, install in installs.items():
        assert report[package] is not None, f"{package}: the feature ran without its package"
        kind, is_missing_dependency, is_import_error, message = report[package]
        assert is_missing_dependency and is_import_error, (package, kind)
        assert "which is not installed" in message and install in message, (package, message)
