// The mask canvas (run by gr.HTML's js_on_load with element, trigger, props, upload, watch).
// The working copy is an <img>; strokes go onto a <canvas> above it, in the page, at display rate. When a stroke
// ends, only the mask travels: a PNG the size of the working copy, uploaded, then the "painted" event.
const root = element.querySelector('.mc');
const view = root.querySelector('.mc-view');
const stage = root.querySelector('.mc-stage');
const img = root.querySelector('.mc-image');
const mask = root.querySelector('.mc-mask');
const ctx = mask.getContext('2d', { willReadFrequently: true });
const cursor = root.querySelector('.mc-cursor');
const sizeInput = root.querySelector('.mc-size');
const sizeLabel = root.querySelector('.mc-size-label');
const zoomLabel = root.querySelector('.mc-zoom');
const PAINT = [255, 40, 40];
const HISTORY = 30;  // undo steps kept (a snapshot is a canvas the size of the working copy)
const MIN_ZOOM = 0.05, MAX_ZOOM = 32;

const state = {
  background: null,     // the FileData the server sent (echoed back with each mask)
  url: null,
  width: 0, height: 0,
  tool: 'brush', size: 32, shown: true,
  scale: 1, x: 0, y: 0,  // the stage's transform: screen px per working-copy px, and its offset in the view
  past: [], future: [],
  stroke: null,          // the pointer painting now, and the snapshot from before its stroke
  pointers: new Map(),   // pointers down on the view (two touches: pinch and pan)
  pinch: null, pan: null, hover: false, spaceDown: false,
  sending: null, dirty: false,
};

// ---- view: zoom and pan ------------------------------------------------------------------------
function place() {
  stage.style.transform = `translate(${state.x}px, ${state.y}px) scale(${state.scale})`;
  zoomLabel.textContent = `${Math.round(state.scale * 100)}%`;
  mask.style.imageRendering = state.scale >= 2 ? 'pixelated' : 'auto';
  cursor.style.width = cursor.style.height = `${state.size * state.scale}px`;
}

function fit() {
  if (!state.width) return;
  const w = view.clientWidth, h = view.clientHeight;
  state.scale = Math.min(w / state.width, h / state.height);
  state.x = (w - state.width * state.scale) / 2;
  state.y = (h - state.height * state.scale) / 2;
  place();
}

function zoomAt(factor, vx, vy) {
  const scale = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, state.scale * factor));
  state.x = vx - (vx - state.x) * scale / state.scale;
  state.y = vy - (vy - state.y) * scale / state.scale;
  state.scale = scale;
  place();
}

function setZoom(scale) {  // about the view's centre
  zoomAt(scale / state.scale, view.clientWidth / 2, view.clientHeight / 2);
}

function inView(e) {
  const r = view.getBoundingClientRect();
  return [e.clientX - r.left, e.clientY - r.top];
}

function onPicture(e) {  // working-copy pixels (fractions: the centre of pixel (i, j) is (i + 0.5, j + 0.5))
  const [vx, vy] = inView(e);
  return [(vx - state.x) / state.scale, (vy - state.y) / state.scale];
}

// ---- the mask --------------------------------------------------------------------------------------
function snapshot() {
  const copy = document.createElement('canvas');
  copy.width = mask.width; copy.height = mask.height;
  copy.getContext('2d').drawImage(mask, 0, 0);
  return copy;
}

function restore(copy) {
  ctx.save();
  ctx.globalCompositeOperation = 'copy';
  ctx.drawImage(copy, 0, 0);
  ctx.restore();
}

function remember(copy) {
  state.past.push(copy);
  if (state.past.length > HISTORY) state.past.shift();
  state.future = [];
}

function repaint(paintedIf) {  // every pixel painted (opaque) or bare, as `paintedIf(alpha)` says
  const data = ctx.getImageData(0, 0, mask.width, mask.height);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    const on = paintedIf(px[i + 3]);
    px[i] = on ? PAINT[0] : 0; px[i + 1] = on ? PAINT[1] : 0; px[i + 2] = on ? PAINT[2] : 0; px[i + 3] = on ? 255 : 0;
  }
  ctx.putImageData(data, 0, 0);
}

// what is shown is exactly what is sent: paint where alpha > 127, nothing elsewhere
const binarize = () => state.width && repaint(alpha => alpha > 127);
const invert = () => repaint(alpha => alpha <= 127);

function isEmpty() {
  const px = ctx.getImageData(0, 0, mask.width, mask.height).data;
  for (let i = 3; i < px.length; i += 4) if (px[i]) return false;
  return true;
}

function paintTo(x, y) {
  const s = state.stroke;
  ctx.save();
  ctx.globalCompositeOperation = state.tool === 'eraser' ? 'destination-out' : 'source-over';
  ctx.strokeStyle = ctx.fillStyle = `rgb(${PAINT.join(',')})`;
  ctx.lineWidth = state.size;
  ctx.lineCap = ctx.lineJoin = 'round';
  ctx.beginPath();
  if (s.last) {
    ctx.moveTo(s.last[0], s.last[1]);
    ctx.lineTo(x, y);
    ctx.stroke();
  } else {
    ctx.arc(x, y, state.size / 2, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.restore();
  s.last = [x, y];
}

function edit(change) {  // a whole-mask action, undoable, sent at once
  if (!state.width) return;
  remember(snapshot());
  change();
  send();
}

function undo() {
  if (!state.past.length) return;
  state.future.push(snapshot());
  restore(state.past.pop());
  send();
}

function redo() {
  if (!state.future.length) return;
  state.past.push(snapshot());
  restore(state.future.pop());
  send();
}

// ---- to the server: the mask only ---------------------------------------------------------------
async function upload_mask() {
  if (isEmpty()) return [];
  const blob = await new Promise(done => mask.toBlob(done, 'image/png'));
  const file = new File([blob], 'mask.png', { type: 'image/png' });
  const { path, url } = await upload(file);
  return [{ path, url, orig_name: 'mask.png', mime_type: 'image/png', meta: { _type: 'gradio.FileData' } }];
}

function send() {  // one upload at a time; strokes made meanwhile go with the next
  state.dirty = true;
  if (state.sending) return;
  root.dataset.sending = '1';
  state.sending = (async () => {
    while (state.dirty) {
      state.dirty = false;
      try {
        const layers = await upload_mask();
        props.value = { background: state.background, layers, composite: null };
        trigger('painted');
      } catch (err) {
        console.error('mask canvas: the mask could not be sent', err);
      }
    }
    state.sending = null;
    root.dataset.sending = '0';
    root.dataset.sent = String(Number(root.dataset.sent || 0) + 1);
  })();
}

// A button of this tab pressed while a stroke's mask is on its way would run the edit on the mask from before
// the stroke: the press is held until the mask has arrived, then made again.
(root.closest('.tabitem') || document).addEventListener('click', e => {
  const button = e.target.closest && e.target.closest('button');
  if (!state.sending || !button || root.contains(button)) return;
  e.preventDefault();
  e.stopImmediatePropagation();
  state.sending.then(() => requestAnimationFrame(() => button.click()));
}, true);

// ---- from the server: a picture, and maybe a mask ------------------------------------------------
function loadImage(url) {
  return new Promise((done, fail) => {
    const im = new Image();
    im.onload = () => done(im);
    im.onerror = fail;
    im.src = url;
  });
}

async function show(value) {
  const background = value && value.background;
  const url = background && (background.url || null);
  state.background = background || null;
  state.past = []; state.future = [];
  root.classList.toggle('mc-has-picture', !!url);
  if (!url) {
    state.url = null; state.width = state.height = 0;
    img.removeAttribute('src');
    mask.width = mask.height = 0;
    root.dataset.ready = '0';
    return;
  }
  root.dataset.ready = '0';
  if (url !== state.url) {
    const im = await loadImage(url);
    state.url = url;
    img.src = url;
    state.width = im.naturalWidth; state.height = im.naturalHeight;
    stage.style.width = `${state.width}px`; stage.style.height = `${state.height}px`;
    mask.width = state.width; mask.height = state.height;
    sizeInput.max = Math.max(8, Math.round(Math.max(state.width, state.height) / 2));
    setSize(Math.max(1, Math.round(Math.min(state.width, state.height) * 0.08)));
    fit();
  }
  ctx.clearRect(0, 0, mask.width, mask.height);
  const layer = value.layers && value.layers.find(l => l && l.url);
  if (layer) {
    ctx.drawImage(await loadImage(layer.url), 0, 0, mask.width, mask.height);
    binarize();
  }
  root.dataset.ready = '1';
}

// ---- tools -----------------------------------------------------------------------------------------
function setSize(size) {
  const max = Number(sizeInput.max);
  state.size = Math.max(1, Math.min(max, Math.round(size)));
  sizeInput.value = state.size;
  sizeLabel.textContent = `${state.size} px`;
  place();
}

function setTool(tool) {
  state.tool = tool;
  root.querySelectorAll('[data-tool]').forEach(b => b.classList.toggle('mc-on', b.dataset.tool === tool));
  view.classList.toggle('mc-panning', tool === 'pan');
}

function toggleMask() {
  state.shown = !state.shown;
  mask.style.visibility = state.shown ? 'visible' : 'hidden';
  root.querySelector('[data-act="toggle"]').textContent = state.shown ? 'Hide mask' : 'Show mask';
}

const ACTIONS = {
  undo, redo, toggle: toggleMask, fit,
  clear: () => edit(() => ctx.clearRect(0, 0, mask.width, mask.height)),
  invert: () => edit(invert),
  'zoom-in': () => setZoom(state.scale * 1.25),
  'zoom-out': () => setZoom(state.scale / 1.25),
  'zoom-100': () => setZoom(1),
};

root.querySelectorAll('[data-tool]').forEach(b => b.addEventListener('click', () => setTool(b.dataset.tool)));
root.querySelectorAll('[data-act]').forEach(b => b.addEventListener('click', () => ACTIONS[b.dataset.act]()));
sizeInput.addEventListener('input', () => setSize(Number(sizeInput.value)));

function onKey(e) {
  if (!state.width) return;
  const key = e.key.toLowerCase();
  if ((e.ctrlKey || e.metaKey) && key === 'z') { (e.shiftKey ? redo : undo)(); }
  else if ((e.ctrlKey || e.metaKey) && key === 'y') { redo(); }
  else if (e.key === '[') { setSize(state.size / 1.2); }
  else if (e.key === ']') { setSize(Math.max(state.size + 1, state.size * 1.2)); }
  else if (key === 'b' && !e.ctrlKey) { setTool('brush'); }
  else if (key === 'e' && !e.ctrlKey) { setTool('eraser'); }
  else if (key === ' ') { state.spaceDown = e.type === 'keydown'; }
  else return;
  e.preventDefault();
}
root.addEventListener('keydown', onKey);
root.addEventListener('keyup', e => { if (e.key === ' ') state.spaceDown = false; });
document.addEventListener('keydown', e => {  // keys also while the pointer is over the picture
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || '');
  if (state.hover && !typing && !root.contains(document.activeElement)) onKey(e);
});

// ---- pointers: mouse, pen and touch ---------------------------------------------------------------
function endStroke(keep) {
  const s = state.stroke;
  if (!s) return;
  state.stroke = null;
  if (!keep) { restore(s.before); return; }
  binarize();
  remember(s.before);
  send();
}

function startPinch() {
  const [a, b] = [...state.pointers.values()];
  state.pinch = { distance: Math.hypot(a.x - b.x, a.y - b.y), x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
}

view.addEventListener('pointerdown', e => {
  root.focus({ preventScroll: true });
  if (!state.width) return;
  const [vx, vy] = inView(e);
  state.pointers.set(e.pointerId, { x: vx, y: vy });
  view.setPointerCapture(e.pointerId);
  if (state.pointers.size === 2) {  // a second finger: the stroke was the start of a pinch
    endStroke(false);
    startPinch();
    return;
  }
  if (e.button === 1 || e.button === 2 || state.tool === 'pan' || state.spaceDown) {
    state.pan = { x: vx, y: vy };
    return;
  }
  if (e.button !== 0) return;
  state.stroke = { id: e.pointerId, before: snapshot(), last: null };
  paintTo(...onPicture(e));
  e.preventDefault();
});

view.addEventListener('pointermove', e => {
  const [vx, vy] = inView(e);
  cursor.style.transform = `translate(${vx}px, ${vy}px) translate(-50%, -50%)`;
  if (state.pointers.has(e.pointerId)) state.pointers.set(e.pointerId, { x: vx, y: vy });
  if (state.pinch && state.pointers.size === 2) {
    const [a, b] = [...state.pointers.values()];
    const distance = Math.hypot(a.x - b.x, a.y - b.y), x = (a.x + b.x) / 2, y = (a.y + b.y) / 2;
    state.x += x - state.pinch.x; state.y += y - state.pinch.y;
    zoomAt(distance / state.pinch.distance, x, y);
    state.pinch = { distance, x, y };
    return;
  }
  if (state.pan) {
    state.x += vx - state.pan.x; state.y += vy - state.pan.y;
    state.pan = { x: vx, y: vy };
    place();
    return;
  }
  if (state.stroke && state.stroke.id === e.pointerId) {
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const c of (events.length ? events : [e])) paintTo(...onPicture(c));
  }
});

function pointerUp(e) {
  state.pointers.delete(e.pointerId);
  if (state.pointers.size < 2) state.pinch = null;
  if (state.pan && state.pointers.size === 0) state.pan = null;
  if (state.stroke && state.stroke.id === e.pointerId) endStroke(e.type === 'pointerup');
}
view.addEventListener('pointerup', pointerUp);
view.addEventListener('pointercancel', pointerUp);
view.addEventListener('pointerenter', () => { state.hover = true; cursor.style.display = 'block'; });
view.addEventListener('pointerleave', () => { state.hover = false; cursor.style.display = 'none'; });
view.addEventListener('contextmenu', e => e.preventDefault());
view.addEventListener('wheel', e => {
  if (!state.width) return;
  e.preventDefault();
  const [vx, vy] = inView(e);
  zoomAt(Math.exp(-e.deltaY * 0.002), vx, vy);
}, { passive: false });
new ResizeObserver(() => { if (state.width && root.dataset.ready === '1') fit(); }).observe(view);

// for tests and scripts: the mask's pixels (1 = regenerate), the view, and the zoom
root.maskCanvas = {
  mask: () => {
    const px = ctx.getImageData(0, 0, mask.width, mask.height).data;
    const out = new Uint8Array(px.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = px[4 * i + 3] > 127 ? 1 : 0;
    return { width: mask.width, height: mask.height, bits: Array.from(out) };
  },
  state: () => ({ scale: state.scale, x: state.x, y: state.y, size: state.size, tool: state.tool,
                 width: state.width, height: state.height, undo: state.past.length, redo: state.future.length }),
  zoom: setZoom,
  setSize,
};

watch('value', () => show(props.value));
show(props.value);
