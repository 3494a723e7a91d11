import numpy as np
import graphc as gc

w = gc.Variable(np.full((3, 2), 0.5, np.float32), name="w")
b = gc.Variable(np.zeros(2, np.float32), name="b")

@gc.function
def predict(x, w, b):
    return gc.nn.sigmoid(gc.matmul(x, w) + b)

x = np.ones((2, 3), np.float32)
y = predict(x, w, b)                              # traced once per input signature, then the cached graph runs
cf = predict.get_concrete_function(x, w, b)
print(cf.graph)                                   # readable text IR, one node a line, with user source lines
gc.config.run_functions_eagerly(True)             # or GRAPHC_RUN_EAGERLY=1: same results, op by op; print() and pdb work
