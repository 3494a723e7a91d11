"""The codes native code stores in the sync words' error word (``Emitter.flag_error``); the runtime
raises the matching error."""

ERROR_INDEX_OUT_OF_RANGE, ERROR_NEGATIVE_INTEGER_POWER = 1, 2
ERROR_HOST_CALL = 3  # a host call's Python function raised, or returned a wrong result (``host_calls.py``)
