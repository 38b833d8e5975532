// What a model name and a version look like. Names become URL segments and
// folder names: no dot first, no separators. The HTTP parameter schemas and
// the repository scanner test names with the same patterns.

/** A model name, as a JSON Schema pattern. */
export const MODEL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'
export const MODEL_NAME_DESCRIPTION = 'a model name: up to 128 letters, digits, _ . or -, starting with a letter or digit'

/** A model version, as a JSON Schema pattern: a positive integer, which is also a version folder's name. */
export const MODEL_VERSION_PATTERN = '^[1-9][0-9]{0,8}$'
export const MODEL_VERSION_DESCRIPTION = 'a model version: a positive integer'
