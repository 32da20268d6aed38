// /docs: what Swagger UI renders without: names for a parameter's <select>, the request body's text
// area and file input and each table of responses, keyboard access to scrolling code blocks, a landmark
// around the API's title and description, and headings that step down one level at a time (Swagger UI
// has no h2: everything below its h1 is announced one level up). Swagger UI renders as the reader goes,
// so every change is looked at.
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
  // Each operation's table of responses is a region; several open at once need names to tell them apart.
  name('table.responses-table[role="region"]', (table) => {
    const operation = table.closest('.opblock');
    const method = operation?.querySelector('.opblock-summary-method')?.textContent ?? '';
    const path = operation?.querySelector('.opblock-summary-path')?.dataset.path ?? '';
    return `Responses of ${method} ${path}`.trim();
  });
  for (const block of root.querySelectorAll('pre.microlight:not([tabindex])')) {
    block.tabIndex = 0;
  }
  for (const heading of root.querySelectorAll('h3:not([aria-level]), h4:not([aria-level]), h5:not([aria-level])')) {
    heading.setAttribute('aria-level', String(Number(heading.tagName[1]) - 1));
  }
  for (const header of root.querySelectorAll('.information-container:not([role])')) {
    header.setAttribute('role', 'banner');
  }
}

fill();
new MutationObserver(fill).observe(root, { childList: true, subtree: true });
