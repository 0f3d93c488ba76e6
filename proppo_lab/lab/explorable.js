/* Proppo Lab, exported page: switch a Lab between runs precomputed at export.
 *
 * No kernel and no network: every .pl-static-lab that carries published runs
 * (the JSON in its script.pl-explore-data, made by proppo_lab/lab/publish.py)
 * lets the reader click a node of the graph and a propagator in the palette;
 * the plots (Plotly.react), the status line, the node fills and labels and the
 * edge widths then show the run of that plan. A plan that was not precomputed
 * is named as unavailable, with how to run it live. Our own code, no framework.
 */
(function () {
  'use strict';

  var PER_SITE = { messages: true, weights: true };

  /* JSON with sorted keys: the same plan, however its options were ordered. */
  function canonical(v) {
    if (Array.isArray(v)) {
      return '[' + v.map(canonical).join(',') + ']';
    }
    if (v && typeof v === 'object') {
      return '{' + Object.keys(v).sort().map(function (k) {
        return JSON.stringify(k) + ':' + canonical(v[k]);
      }).join(',') + '}';
    }
    return JSON.stringify(v);
  }

  function clone(v) {
    return v === undefined ? v : JSON.parse(JSON.stringify(v));
  }

  function escapeText(s) {
    var div = document.createElement('div');
    div.textContent = s;
    return div.innerHTML;
  }

  function ExplorableLab(root) {
    this.root = root;
    this.data = JSON.parse(root.querySelector('script.pl-explore-data').textContent);
    this.svg = root.querySelector('.pl-static-graph svg');
    this.status = root.querySelector('[data-pl-status]');
    this.palette = root.querySelector('.pl-palette');
    this.note = root.querySelector('.pl-explore-note');
    this.plotNotes = root.querySelector('.pl-plot-notes');
    this.slots = {};
    var self = this;
    root.querySelectorAll('[data-pl-plot]').forEach(function (slot) {
      self.slots[slot.getAttribute('data-pl-plot')] = slot;
    });
    this.assignment = {};
    Object.keys(this.data.nodes).forEach(function (id) {
      self.assignment[id] = self.data.nodes[id].assigned;
    });
    this.notebook = this.capture();
    this.run = null; // null: the state the notebook ended in
    this.selected = this.firstNode();
    this.bind();
    this.select(this.selected);
  }

  ExplorableLab.prototype.node = function (id) {
    return this.svg ? this.svg.querySelector('g.node[id="' + CSS.escape(id) + '"]') : null;
  };

  ExplorableLab.prototype.firstNode = function () {
    var ids = Object.keys(this.data.nodes);
    for (var i = 0; i < ids.length; i++) {
      if (this.data.nodes[ids[i]].site === this.data.site) {
        return ids[i];
      }
    }
    return ids[0] || null;
  };

  /* What the page shows now, to come back to ("as run in the notebook"). */
  ExplorableLab.prototype.capture = function () {
    var self = this;
    var state = { plots: {}, status: this.status ? this.status.innerHTML : '', nodes: {}, edges: {} };
    Object.keys(this.slots).forEach(function (name) {
      var gd = self.slots[name].querySelector('.js-plotly-plot');
      state.plots[name] = {
        data: gd ? clone(gd.data) : [],
        layout: gd ? clone(gd.layout) : {},
        empty: self.slots[name].classList.contains('pl-empty')
      };
    });
    Object.keys(this.data.nodes).forEach(function (id) {
      var g = self.node(id);
      var shape = g && g.querySelector('path, polygon, ellipse');
      var text = g && g.querySelector('text');
      state.nodes[id] = {
        fill: shape ? shape.getAttribute('fill') : null,
        text: text ? text.getAttribute('fill') : null
      };
    });
    if (this.svg) {
      this.svg.querySelectorAll('g.edge').forEach(function (g) {
        var path = g.querySelector('path');
        state.edges[g.id] = path ? path.getAttribute('stroke-width') || '1' : '1';
      });
    }
    return state;
  };

  ExplorableLab.prototype.bind = function () {
    var self = this;
    Object.keys(this.data.nodes).forEach(function (id) {
      var g = self.node(id);
      if (!g) {
        return;
      }
      g.classList.add('pl-choosable');
      g.setAttribute('tabindex', '0');
      g.setAttribute('role', 'button');
      g.addEventListener('click', function () { self.select(id); });
      g.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          self.select(id);
        }
      });
    });
    this.root.querySelectorAll('[data-pl-run]').forEach(function (button) {
      button.addEventListener('click', function () {
        var index = button.getAttribute('data-pl-run');
        if (index === 'notebook') {
          self.showNotebook();
        } else {
          var run = self.data.runs[Number(index)];
          self.assignment = clone(run.assignment);
          self.show(run);
        }
      });
    });
  };

  /* Select a node: highlight it, offer its propagators, show its per-node plots. */
  ExplorableLab.prototype.select = function (id) {
    var self = this;
    this.selected = id;
    Object.keys(this.data.nodes).forEach(function (other) {
      var g = self.node(other);
      if (g) {
        g.classList.toggle('pl-selected', other === id);
      }
    });
    this.drawPalette();
    if (this.run) {
      this.drawPlots(this.run);
    }
  };

  ExplorableLab.prototype.findRun = function (assignment) {
    var key = canonical(assignment);
    for (var i = 0; i < this.data.runs.length; i++) {
      if (canonical(this.data.runs[i].assignment) === key) {
        return this.data.runs[i];
      }
    }
    return null;
  };

  ExplorableLab.prototype.wanted = function (id, name) {
    var out = clone(this.assignment);
    out[id] = [name, {}, {}];
    return out;
  };

  ExplorableLab.prototype.drawPalette = function () {
    var self = this;
    var id = this.selected;
    this.palette.innerHTML = '';
    if (!id) {
      return;
    }
    var node = this.data.nodes[id];
    var label = document.createElement('span');
    label.className = 'pl-palette-label';
    label.textContent = node.site + ':';
    this.palette.appendChild(label);
    this.data.palette.forEach(function (entry) {
      if (entry.kinds.indexOf(node.kind) < 0) {
        return;
      }
      var button = document.createElement('button');
      var available = self.findRun(self.wanted(id, entry.name)) !== null;
      button.className = 'pl-chip' + (available ? '' : ' pl-unavailable') +
        (self.assignment[id][0] === entry.name ? ' pl-current' : '');
      button.style.background = entry.colour;
      button.style.color = entry.text;
      button.textContent = entry.name;
      button.setAttribute('data-pl-propagator', entry.name);
      button.title = entry.doc + (available ? '' : ' (not precomputed for this page)');
      button.addEventListener('click', function () { self.choose(id, entry.name); });
      self.palette.appendChild(button);
    });
  };

  ExplorableLab.prototype.choose = function (id, name) {
    var run = this.findRun(this.wanted(id, name));
    var site = this.data.nodes[id].site;
    if (!run) {
      this.note.innerHTML = '<b>' + escapeText(name) + ' at ' + escapeText(site) +
        '</b> was not precomputed for this page. To run it, open the notebook in ' +
        'JupyterLab, click the node, pick ' + escapeText(name) + ' and press Run ' +
        '(or <code>lab.assign("' + escapeText(site) + '", "' + escapeText(name) +
        '"); lab.run()</code>).';
      this.note.classList.add('pl-unavailable-note');
      return;
    }
    this.assignment = clone(run.assignment);
    this.show(run);
  };

  ExplorableLab.prototype.show = function (run) {
    this.run = run;
    this.root.setAttribute('data-pl-showing', run.label);
    this.note.classList.remove('pl-unavailable-note');
    this.note.textContent = 'Showing the precomputed run "' + run.label + '".';
    if (this.status) {
      this.status.innerHTML = run.status;
    }
    this.paintGraph(run.fills, run.texts, run.edges, true);
    this.drawPlots(run);
    this.drawPalette();
  };

  ExplorableLab.prototype.showNotebook = function () {
    var self = this;
    var nb = this.notebook;
    this.run = null;
    this.root.setAttribute('data-pl-showing', 'notebook');
    Object.keys(this.data.nodes).forEach(function (id) {
      self.assignment[id] = self.data.nodes[id].assigned;
    });
    this.note.classList.remove('pl-unavailable-note');
    this.note.textContent = 'Showing the run made in the notebook.';
    if (this.status) {
      this.status.innerHTML = nb.status;
    }
    var fills = {};
    var texts = {};
    Object.keys(nb.nodes).forEach(function (id) {
      fills[id] = nb.nodes[id].fill;
      texts[id] = nb.nodes[id].text;
    });
    this.paintGraph(fills, texts, nb.edges, false);
    Object.keys(this.slots).forEach(function (name) {
      var saved = nb.plots[name];
      self.drawFigure(name, saved.empty ? null : clone(saved.data), clone(saved.layout), '');
    });
    this.writePlotNotes();
    this.drawPalette();
  };

  /* Node fills, their labels' propagator line and text colour, edge widths. */
  ExplorableLab.prototype.paintGraph = function (fills, texts, edges, edgesDefaultOne) {
    var self = this;
    Object.keys(this.data.nodes).forEach(function (id) {
      var g = self.node(id);
      if (!g) {
        return;
      }
      var shape = g.querySelector('path, polygon, ellipse');
      if (shape && fills[id]) {
        shape.setAttribute('fill', fills[id]);
      }
      var name = self.assignment[id][0];
      var lines = g.querySelectorAll('text');
      lines.forEach(function (t, i) {
        if (texts[id]) {
          t.setAttribute('fill', texts[id]);
        }
        // Graphviz writes one <text> per label line: "site", then the propagator
        if (i === 1 && name) {
          t.textContent = name;
        }
      });
    });
    if (this.svg) {
      this.svg.querySelectorAll('g.edge').forEach(function (g) {
        var width = edges[g.id] !== undefined ? edges[g.id] : (edgesDefaultOne ? 1 : null);
        if (width === null) {
          return;
        }
        g.querySelectorAll('path, polygon').forEach(function (el) {
          el.setAttribute('stroke-width', String(width));
        });
      });
    }
  };

  ExplorableLab.prototype.drawPlots = function (run) {
    var self = this;
    var site = this.selected ? this.data.nodes[this.selected].site : this.data.site;
    Object.keys(this.slots).forEach(function (name) {
      var fig = PER_SITE[name] ? (run.sites[site] || {})[name] : run.plots[name];
      var traces = fig ? fig.data.map(function (t) {
        return {
          type: 'scatter', name: t.name, mode: t.mode, x: t.x, y: t.y,
          line: { color: t.color, width: 2 }, marker: { color: t.color, size: 4 }
        };
      }) : [];
      var drawn = traces.some(function (t) { return t.x.length > 1; });
      var gd = self.slots[name].querySelector('.js-plotly-plot');
      var layout = gd ? Object.assign({}, gd.layout, { annotations: [] }) : {};
      if (gd && fig) {
        layout.xaxis = Object.assign({}, gd.layout.xaxis);
        layout.xaxis.title = Object.assign({}, (gd.layout.xaxis || {}).title, { text: fig.x });
      }
      var why = fig && fig.note ? fig.note : (PER_SITE[name] ? 'nothing recorded at ' + site : 'no data');
      self.drawFigure(name, drawn ? traces : null, layout, why);
    });
    this.writePlotNotes();
  };

  /* Draw a figure, or hide its slot (data null) and say why in the notes line. */
  ExplorableLab.prototype.drawFigure = function (name, data, layout, why) {
    var slot = this.slots[name];
    var gd = slot.querySelector('.js-plotly-plot');
    if (!data || !gd) {
      slot.classList.add('pl-empty');
      slot.setAttribute('data-pl-why', why || 'no data in this run');
      return;
    }
    var wasHidden = slot.classList.contains('pl-empty');
    slot.classList.remove('pl-empty');
    window.Plotly.react(gd, data, layout);
    if (wasHidden) {
      window.Plotly.Plots.resize(gd);
    }
  };

  ExplorableLab.prototype.writePlotNotes = function () {
    var self = this;
    if (!this.plotNotes) {
      return;
    }
    var notes = Object.keys(this.slots).filter(function (name) {
      return self.slots[name].classList.contains('pl-empty');
    }).map(function (name) {
      var slot = self.slots[name];
      return '“' + slot.getAttribute('data-pl-title') + '”: ' + slot.getAttribute('data-pl-why');
    });
    this.plotNotes.textContent = notes.length ? 'Not shown: ' + notes.join('; ') + '.' : '';
  };

  function start() {
    if (!window.Plotly) {
      return;
    }
    document.querySelectorAll('.pl-static-lab[data-pl-explorable]').forEach(function (root) {
      root.plExplorable = new ExplorableLab(root);
    });
  }

  if (document.readyState === 'complete') {
    start();
  } else {
    window.addEventListener('load', start);
  }
})();
