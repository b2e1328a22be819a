"""The gateway protocol without I/O: opcodes, close codes, encoding, the connection
state machine. Everything here takes bytes and time as arguments."""
