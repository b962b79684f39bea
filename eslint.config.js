// ESLint (flat config) for the browser code the app serves and its Node tests.
// Vendored libraries are linted by their own projects, not here.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["aicreative/web/static/vendor/**", "node_modules/**", ".venv/**"] },
  js.configs.recommended,
  {
    files: ["aicreative/web/static/**/*.js"],
    languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: { ...globals.browser } },
    rules: {
      "no-var": "error",
      "prefer-const": "error",
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "User text goes into the DOM as text." },
        { object: "localStorage", message: "The gallery keeps nothing outside IndexedDB." },
        { object: "sessionStorage", message: "The gallery keeps nothing outside IndexedDB." },
      ],
    },
  },
  {
    files: ["tests/js/**/*.js", "eslint.config.js", "benchmarks/**/*.js"],
    languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: { ...globals.node } },
  },
];
