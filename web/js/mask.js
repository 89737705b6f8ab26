// The init image and the inpaint mask painter of the settings form: shows the image on one
// canvas and a paintable mask on a canvas laid over it, both at the image's own pixel size
// (CSS scales them). Painting is with pointer events (mouse, pen, touch); the mask is exported
// as a black/white PNG (white = repaint), as A1111's API takes it. Not here: sending anything.
import { canvasToBase64, loadImage } from './api.js';

export class MaskPainter {
    constructor(imageCanvas, maskCanvas) {
        this.image = imageCanvas;
        this.mask = maskCanvas;
        this.brush = 24;
        this.painting = false;
        this.hasImage = false;
        this.last = null;
        this.mask.addEventListener('pointerdown', (e) => this.down(e));
        this.mask.addEventListener('pointermove', (e) => this.move(e));
        for (const t of ['pointerup', 'pointercancel', 'pointerleave']) this.mask.addEventListener(t, () => this.up());
    }

    /** Shows an image (File/Blob/URL); returns its {width, height}. Clears the mask. */
    async setImage(src) {
        const img = await loadImage(src);
        for (const c of [this.image, this.mask]) {
            c.width = img.naturalWidth;
            c.height = img.naturalHeight;
        }
        this.image.getContext('2d').drawImage(img, 0, 0);
        this.hasImage = true;
        this.clear();
        return { width: img.naturalWidth, height: img.naturalHeight };
    }

    point(e) {
        const r = this.mask.getBoundingClientRect();
        return { x: ((e.clientX - r.left) * this.mask.width) / r.width, y: ((e.clientY - r.top) * this.mask.height) / r.height };
    }

    brushPx() {
        const r = this.mask.getBoundingClientRect();
        return r.width > 0 ? (this.brush * this.mask.width) / r.width : this.brush;
    }

    down(e) {
        if (!this.hasImage || !this.enabled) return;
        this.mask.setPointerCapture(e.pointerId);
        this.painting = true;
        this.last = this.point(e);
        this.stroke(this.last, this.last);
    }

    move(e) {
        if (!this.painting) return;
        const p = this.point(e);
        this.stroke(this.last, p);
        this.last = p;
    }

    up() {
        this.painting = false;
    }

    stroke(a, b) {
        const ctx = this.mask.getContext('2d');
        ctx.strokeStyle = '#fff';
        ctx.lineCap = 'round';
        ctx.lineJoin = 'round';
        ctx.lineWidth = this.brushPx();
        ctx.beginPath();
        ctx.moveTo(a.x, a.y);
        ctx.lineTo(b.x + 0.01, b.y);
        ctx.stroke();
    }

    clear() {
        this.mask.getContext('2d').clearRect(0, 0, this.mask.width, this.mask.height);
    }

    /** Painted pixels become unpainted and the other way round. */
    invert() {
        const ctx = this.mask.getContext('2d');
        const d = ctx.getImageData(0, 0, this.mask.width, this.mask.height);
        for (let i = 0; i < d.data.length; i += 4) {
            const on = d.data[i + 3] >= 128;
            d.data[i] = d.data[i + 1] = d.data[i + 2] = 255;
            d.data[i + 3] = on ? 0 : 255;
        }
        ctx.putImageData(d, 0, 0);
    }

    /** True when some pixel of the mask is painted. */
    isEmpty() {
        const d = this.mask.getContext('2d').getImageData(0, 0, this.mask.width, this.mask.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i] >= 128) return false;
        return true;
    }

    /** The init image as base64 PNG. */
    imageBase64() {
        return canvasToBase64(this.image);
    }

    /** The mask as base64 PNG: white where painted, black elsewhere. */
    maskBase64() {
        const out = document.createElement('canvas');
        out.width = this.mask.width;
        out.height = this.mask.height;
        const ctx = out.getContext('2d');
        ctx.fillStyle = '#000';
        ctx.fillRect(0, 0, out.width, out.height);
        ctx.drawImage(this.mask, 0, 0);
        return canvasToBase64(out);
    }
}
