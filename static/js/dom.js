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

/** Runs `work` once the browser has painted what the page just changed: after the next frame's rendering,
 * or on the next turn in a hidden page, which renders no frames. */
export function afterPaint(work) {
  if (document.hidden) setTimeout(work, 0);
  else requestAnimationFrame(() => setTimeout(work, 0));
}
