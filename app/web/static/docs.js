// /docs: names and keyboard access for the Swagger UI elements that render without them: a parameter's
// <select>, the request body's text area and file input, and scrolling code blocks (focusable, so the
// keyboard can scroll them). Swagger UI renders as the reader goes, so every change is looked at.
const root = document.getElementById('swagger-ui');

function name(selector, label) {
  for (const element of root.querySelectorAll(`${selector}:not([aria-label])`)) {
    element.setAttribute('aria-label', label(element));
  }
}

function fill() {
  name('tr[data-param-name] select', (select) => select.closest('tr').dataset.paramName);
  name('textarea.body-param__text', () => 'Request body');
  name('.opblock-section-request-body input[type="file"]', () => 'Request body file');
  for (const block of root.querySelectorAll('pre.microlight:not([tabindex])')) {
    block.tabIndex = 0;
  }
}

fill();
new MutationObserver(fill).observe(root, { childList: true, subtree: true });
