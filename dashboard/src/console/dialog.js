// A small modal question (justification, CNES, note) in a <dialog>: the
// page's own form, never window.prompt, and never a native form submission
// (the CSP has form-action 'none').

const $ = (id) => document.getElementById(id);

/**
 * Asks one question. Resolves with the trimmed answer, or null when the user
 * cancels. `validate(answer)` returns an error message or "" to accept.
 */
export function ask({ title, label, placeholder = "", multiline = true, validate = () => "" }) {
  const dialog = $("ask");
  const form = $("ask-form");
  const input = $("ask-input");
  $("ask-title").textContent = title;
  $("ask-label").textContent = label;
  $("ask-error").textContent = "";
  input.value = "";
  input.placeholder = placeholder;
  input.rows = multiline ? 3 : 1;
  return new Promise((resolve) => {
    const done = (value) => {
      form.removeEventListener("submit", onSubmit);
      $("ask-cancel").removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      const problem = validate(value);
      if (problem) {
        $("ask-error").textContent = problem;
        input.focus();
        return;
      }
      done(value);
    };
    const onCancel = (ev) => {
      ev.preventDefault();
      done(null);
    };
    form.addEventListener("submit", onSubmit);
    $("ask-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    input.focus();
  });
}
