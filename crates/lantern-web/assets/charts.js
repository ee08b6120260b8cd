// A small SVG line chart: a fixed-size ring of points per series, redrawn as one path per series
// (no DOM per point), so a chart costs the same however long it has been running.

const SVG = 'http://www.w3.org/2000/svg';
/** Points kept per series (two minutes at one snapshot a second). */
export const POINTS_MAX = 120;

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

export class LineChart {
  /**
   * `container` receives the SVG; `series` is [{ name, color }]; `format` renders an axis value.
   * `label` names the chart for screen readers (the figures are also in the page as text).
   */
  constructor(container, { series, format = String, label }) {
    this.series = series.map((s) => ({ ...s, points: [] }));
    this.format = format;
    this.width = 600;
    this.height = 140;
    this.root = svg('svg', { class: 'chart', viewBox: `0 0 ${this.width} ${this.height}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'none' });
    this.root.append(svg('line', { class: 'axis', x1: 40, y1: this.height - 16, x2: this.width, y2: this.height - 16 }));
    this.maxText = svg('text', { x: 2, y: 12 });
    this.zeroText = svg('text', { x: 2, y: this.height - 18 });
    this.zeroText.textContent = format(0);
    this.root.append(this.maxText, this.zeroText);
    for (const s of this.series) {
      s.path = svg('path', { fill: 'none', stroke: s.color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' });
      this.root.append(s.path);
    }
    container.replaceChildren(this.root);
    const legend = document.createElement('div');
    legend.className = 'legend';
    for (const s of this.series) {
      const item = document.createElement('span');
      item.style.setProperty('--swatch', s.color);
      item.textContent = s.name;
      legend.append(item);
    }
    container.append(legend);
  }

  /** Adds one value per series (in the constructor's order). */
  push(values) {
    values.forEach((value, index) => {
      const points = this.series[index].points;
      points.push(Number.isFinite(value) ? value : 0);
      if (points.length > POINTS_MAX) points.shift();
    });
  }

  /** Redraws every series against a shared scale. */
  draw() {
    let max = 0;
    for (const s of this.series) for (const value of s.points) if (value > max) max = value;
    const top = max > 0 ? max * 1.1 : 1;
    this.maxText.textContent = this.format(Math.round(top));
    const plotLeft = 40;
    const plotWidth = this.width - plotLeft;
    const plotHeight = this.height - 24;
    const step = plotWidth / (POINTS_MAX - 1);
    for (const s of this.series) {
      const offset = POINTS_MAX - s.points.length;
      let d = '';
      s.points.forEach((value, index) => {
        const x = plotLeft + (offset + index) * step;
        const y = 8 + plotHeight - (value / top) * plotHeight;
        d += `${index === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`;
      });
      s.path.setAttribute('d', d);
    }
  }
}
