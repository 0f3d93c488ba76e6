/**
 * A form built from a propagator's options schema (catalogue entry "options"):
 * a checkbox for bool, a select for choices, a number input with min/max for
 * int/float, a text input for str. "Apply" hands the typed values to `onApply`;
 * the kernel validates them again (Plan.assign), so the form only helps.
 */
import { fillPanel, h } from './dom';
import { CatalogueEntry, OptionValues } from './types';

export function renderOptionsForm(
  host: HTMLElement,
  entry: CatalogueEntry | null,
  values: OptionValues,
  onApply: (name: string, options: OptionValues) => void
): void {
  if (!entry) {
    fillPanel(host);
    return;
  }
  // novalidate: the kernel checks ranges and answers with a readable error banner;
  // the browser's own validation would silently block the submit instead.
  const form = h('form', {
    class: 'pl-options',
    'data-propagator': entry.name,
    novalidate: ''
  });
  form.append(h('div', { class: 'pl-section-title' }, `${entry.name} options`));
  const readers: [string, () => unknown][] = [];
  for (const [name, opt] of Object.entries(entry.options || {})) {
    const current = name in values ? values[name] : opt.default;
    const id = `opt-${Math.random().toString(36).slice(2)}-${name}`;
    let input: HTMLInputElement | HTMLSelectElement;
    if (opt.type === 'bool') {
      const box = h('input', {
        type: 'checkbox',
        id,
        'data-testid': `option-${name}`
      });
      box.checked = Boolean(current);
      input = box;
      readers.push([name, () => box.checked]);
    } else if (opt.choices && opt.choices.length) {
      const sel = h('select', { id, 'data-testid': `option-${name}` });
      for (const c of opt.choices) {
        const o = h('option', { value: String(c) }, String(c));
        o.selected = c === current;
        sel.append(o);
      }
      input = sel;
      readers.push([
        name,
        () => {
          const picked = opt.choices!.find(c => String(c) === sel.value);
          return picked === undefined ? sel.value : picked;
        }
      ]);
    } else if (opt.type === 'int' || opt.type === 'float') {
      const num = h('input', {
        type: 'number',
        id,
        'data-testid': `option-${name}`,
        step: opt.type === 'int' ? '1' : 'any',
        min: opt.min === undefined ? undefined : String(opt.min),
        max: opt.max === undefined ? undefined : String(opt.max)
      });
      num.value = String(current);
      input = num;
      // An unparsable entry is sent as typed: the kernel answers with a readable error.
      readers.push([
        name,
        () => {
          const v = Number(num.value);
          return num.value.trim() === '' || !Number.isFinite(v) ? num.value : v;
        }
      ]);
    } else {
      const txt = h('input', {
        type: 'text',
        id,
        'data-testid': `option-${name}`
      });
      txt.value = String(current ?? '');
      input = txt;
      readers.push([name, () => txt.value]);
    }
    input.title = opt.doc || name;
    form.append(
      h(
        'div',
        { class: 'pl-option-row' },
        h('label', { for: id, title: opt.doc || name }, name),
        input
      )
    );
  }
  if (!readers.length) {
    form.append(h('div', { class: 'pl-hint' }, 'no options'));
  }
  const apply = h(
    'button',
    { type: 'submit', class: 'pl-apply', 'data-testid': 'apply-options' },
    'Apply'
  );
  form.append(apply);
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const out: OptionValues = {};
    for (const [name, read] of readers) {
      out[name] = read();
    }
    onApply(entry.name, out);
  });
  fillPanel(host, form);
}
