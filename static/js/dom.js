/** Building the page's elements. */

/** A new `tag` element with `props` (properties where the element has them, else attributes; `dataset`
 * merged into its data attributes) and `children` appended. */
export function element(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node && !key.startsWith('aria')) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}
