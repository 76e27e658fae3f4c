// ESLint (flat config, no plugins, so it needs only the eslint package) for the
// dashboard's plain browser script; run by scripts/dashboard-check.sh.
export default [
  {
    files: ["app.js"],
    linterOptions: { reportUnusedDisableDirectives: "error" },
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: {
        window: "readonly", document: "readonly", fetch: "readonly", EventSource: "readonly",
        URLSearchParams: "readonly", URL: "readonly", Blob: "readonly", setTimeout: "readonly",
        XMLHttpRequest: "readonly",
      },
    },
    rules: {
      // The core of eslint:recommended, spelled out.
      "no-undef": "error", "no-unused-vars": "error", "no-redeclare": "error", "no-dupe-keys": "error",
      "no-unreachable": "error", "no-constant-condition": "error", "no-empty": "error",
      "no-fallthrough": "error", "no-self-assign": "error", "no-unsafe-finally": "error",
      "no-unsafe-optional-chaining": "error", "use-isnan": "error", "valid-typeof": "error",
      "no-cond-assign": "error", "no-dupe-else-if": "error", "no-useless-escape": "error",
      // And a few for a page that handles what a modem and a network say.
      eqeqeq: "error", "no-eval": "error", "no-implied-eval": "error", "no-new-func": "error",
      "no-var": "error", "prefer-const": "error", strict: ["error", "global"],
      "no-restricted-properties": ["error",
        { object: "document", property: "write", message: "build nodes; never write markup" }],
      "no-restricted-syntax": ["error",
        { selector: "AssignmentExpression[left.property.name='innerHTML']", message: "use textContent" },
        { selector: "AssignmentExpression[left.property.name='outerHTML']", message: "use textContent" }],
    },
  },
];
