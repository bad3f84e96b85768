"""Every size limit on input, in one place: the CLI, the screens and the engine quote these."""

MAX_CODE_BYTES = 1_000_000
MAX_QUERY_CHARS = 4_000
MAX_TASK_CHARS = 10_000
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_SPEC_CHARS = 1_000_000  # checked before parsing: YAML parsing of megabytes is slow
MAX_TAGS = 50
MAX_JSON_BYTES = 1_000_000  # --input and the Library's run field
MAX_JSON_DEPTH = 64
MAX_BEHAVIORS = 500  # per spec; every behaviour is a sandboxed call and a line of the verdict
MAX_YAML_NODES = 100_000  # a spec's values after expanding YAML aliases (anchors and *references)
MAX_YAML_DEPTH = 64
