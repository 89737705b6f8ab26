// ComfyUI's WebSocket (/ws?clientId=...): JSON messages (status, executing, progress,
// executed, execution_error, ...) go to onMessage; binary preview frames (4-byte big-endian
// event type 1, 4-byte format 1 = JPEG / 2 = PNG, then the image) go to onPreview as a Blob.
// Reconnects with a growing delay when the connection drops. Not here: what messages mean.

const PREVIEW_IMAGE = 1;
const FORMATS = { 1: 'image/jpeg', 2: 'image/png' };

export class ComfySocket {
    constructor(onMessage, onPreview) {
        this.onMessage = onMessage;
        this.onPreview = onPreview;
        this.clientId = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`.replace('.', '');
        this.delay = 500;
        this.ws = null;
        this.connect();
    }

    isOpen() {
        return this.ws?.readyState === WebSocket.OPEN;
    }

    connect() {
        const proto = location.protocol === 'https:' ? 'wss' : 'ws';
        const ws = new WebSocket(`${proto}://${location.host}/ws?clientId=${encodeURIComponent(this.clientId)}`);
        ws.binaryType = 'arraybuffer';
        ws.onopen = () => (this.delay = 500);
        ws.onmessage = (e) => this.receive(e.data);
        ws.onclose = () => {
            setTimeout(() => this.connect(), this.delay);
            this.delay = Math.min(this.delay * 2, 10000);
        };
        this.ws = ws;
    }

    receive(data) {
        if (data instanceof ArrayBuffer) {
            if (data.byteLength < 8) return;
            const v = new DataView(data);
            if (v.getUint32(0) !== PREVIEW_IMAGE) return;
            const type = FORMATS[v.getUint32(4)] ?? 'image/jpeg';
            this.onPreview(new Blob([data.slice(8)], { type }));
            return;
        }
        let msg;
        try {
            msg = JSON.parse(data);
        } catch {
            return;
        }
        if (msg && typeof msg.type === 'string') this.onMessage(msg);
    }
}
