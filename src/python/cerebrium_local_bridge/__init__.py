"""The Python replica's code, run by src/python/bridge.py (see its docstring for the protocol).

Named uniquely so it can never shadow, or be shadowed by, a module of the user's app:
  channel   JSON lines on fd 3
  encoding  JSON encoding of results and chunks
  errors    exceptions as SerializedError
  output    print() and logging as `log` messages
  loading   importing main.py
  schema    exports and parameter schemas (pydantic included)
  runs      Run, ChunkSink, Replica
  entry     `serve` and `inspect`
"""
