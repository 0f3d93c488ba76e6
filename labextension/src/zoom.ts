/**
 * Zoom (wheel, about the pointer) and pan (drag) by editing the SVG's viewBox,
 * and fit-to-view (the layout's own box). A drag of a few pixels still counts
 * as a click on a node.
 */
export class ZoomPan {
  private svg: SVGSVGElement | null = null;
  private home: [number, number, number, number] = [0, 0, 1, 1];
  private box: [number, number, number, number] = [0, 0, 1, 1];
  private drag: {
    x: number;
    y: number;
    box: [number, number, number, number];
  } | null = null;
  /** True right after a drag moved the picture: the click that ends it is not a selection. */
  moved = false;

  constructor(private host: HTMLElement) {
    host.addEventListener('wheel', this.onWheel, { passive: false });
    host.addEventListener('pointerdown', this.onDown);
    host.addEventListener('pointermove', this.onMove);
    host.addEventListener('pointerup', this.onUp);
    host.addEventListener('pointerleave', this.onUp);
  }

  /** Adopt a freshly rendered SVG; keep the current zoom when `keep` and one exists. */
  attach(
    svg: SVGSVGElement,
    keep: boolean,
    fitBox?: [number, number, number, number] | null
  ): void {
    const vb = svg.viewBox.baseVal;
    const home: [number, number, number, number] = fitBox
      ? [...fitBox]
      : vb && vb.width > 0
        ? [vb.x, vb.y, vb.width, vb.height]
        : [0, 0, 100, 100];
    const hadZoom = this.svg !== null && !this.isHome();
    this.svg = svg;
    this.home = home;
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
    if (!(keep && hadZoom)) {
      this.box = [...home];
    }
    this.apply();
  }

  homeBox(): [number, number, number, number] {
    return [...this.home];
  }

  fit(): void {
    this.box = [...this.home];
    this.apply();
  }

  zoomBy(factor: number, cx?: number, cy?: number): void {
    const [x, y, w, h] = this.box;
    const px = cx === undefined ? x + w / 2 : cx;
    const py = cy === undefined ? y + h / 2 : cy;
    const nw = Math.min(
      Math.max(w * factor, this.home[2] / 40),
      this.home[2] * 20
    );
    const f = nw / w;
    this.box = [px - (px - x) * f, py - (py - y) * f, w * f, h * f];
    this.apply();
  }

  private isHome(): boolean {
    return this.box.every((v, i) => Math.abs(v - this.home[i]) < 1e-6);
  }

  private apply(): void {
    if (this.svg) {
      this.svg.setAttribute(
        'viewBox',
        this.box.map(v => v.toFixed(2)).join(' ')
      );
    }
  }

  /** Pointer position in viewBox units. */
  private toBox(ev: MouseEvent): [number, number] {
    const r = this.host.getBoundingClientRect();
    const [x, y, w, h] = this.box;
    const s = Math.max(w / Math.max(r.width, 1), h / Math.max(r.height, 1));
    const ox = x - (r.width * s - w) / 2;
    const oy = y - (r.height * s - h) / 2;
    return [ox + (ev.clientX - r.left) * s, oy + (ev.clientY - r.top) * s];
  }

  private onWheel = (ev: WheelEvent): void => {
    if (!this.svg) {
      return;
    }
    ev.preventDefault();
    const [cx, cy] = this.toBox(ev);
    this.zoomBy(Math.exp(ev.deltaY * 0.0015), cx, cy);
  };

  private onDown = (ev: PointerEvent): void => {
    if (ev.button !== 0 || !this.svg) {
      return;
    }
    this.drag = { x: ev.clientX, y: ev.clientY, box: [...this.box] };
    this.moved = false;
  };

  private onMove = (ev: PointerEvent): void => {
    if (!this.drag || !this.svg) {
      return;
    }
    const dx = ev.clientX - this.drag.x;
    const dy = ev.clientY - this.drag.y;
    if (!this.moved && Math.hypot(dx, dy) < 4) {
      return;
    }
    this.moved = true;
    this.host.classList.add('pl-panning');
    const r = this.host.getBoundingClientRect();
    const [x, y, w, h] = this.drag.box;
    const s = Math.max(w / Math.max(r.width, 1), h / Math.max(r.height, 1));
    this.box = [x - dx * s, y - dy * s, w, h];
    this.apply();
  };

  private onUp = (): void => {
    this.drag = null;
    this.host.classList.remove('pl-panning');
  };
}
