"""Every size limit on input, in one place: the CLI, the screens and the engine quote these."""

MAX_CODE_BYTES = 1_000_000
MAX_QUERY_CHARS = 4_000
MAX_TASK_CHARS = 10_000
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_SPEC_CHARS = 1_000_000  # checked before parsing: YAML parsing of megabytes is slow
