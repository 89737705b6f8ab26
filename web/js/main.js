// Entry point of the web UI: the tab strip (keyboard-operable, ARIA tabs), lazy start of each
// view on first show, and the server line in the top bar. The views live in settings.js,
// nodes.js and doodle.js.
import { apiOr, names } from './api.js';

const views = {
    settings: () => import('./settings.js'),
    nodes: () => import('./nodes.js'),
    doodle: () => import('./doodle.js'),
};
const started = {};
const app = { ready: {} };
window.sdcApp = app; // for the browser tests and the console

/** Shows a view (starting it on first use); resolves to the view once it runs. */
async function show(name) {
    for (const tab of document.querySelectorAll('[role=tab]')) {
        const on = tab.id === `tab-${name}`;
        tab.setAttribute('aria-selected', String(on));
        tab.tabIndex = on ? 0 : -1;
        document.getElementById(tab.getAttribute('aria-controls')).hidden = !on;
    }
    if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
    if (!started[name]) {
        started[name] = views[name]().then((m) => m.start(app));
        app.ready[name] = started[name];
    }
    const view = await started[name];
    view?.shown?.();
    return view;
}
app.show = show;

function setupTabs() {
    const tabs = [...document.querySelectorAll('[role=tab]')];
    tabs.forEach((tab, i) => {
        tab.addEventListener('click', () => show(tab.id.slice(4)));
        tab.addEventListener('keydown', (e) => {
            const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
            if (!d) return;
            const next = tabs[(i + d + tabs.length) % tabs.length];
            next.focus();
            show(next.id.slice(4));
        });
    });
}

async function serverLine() {
    const el = document.getElementById('server-status');
    const info = await apiOr('/sdc/v1/info', null);
    app.info = info;
    if (!info) {
        el.textContent = 'server: no /sdc/v1/info';
        return;
    }
    const models = names(info.models, 'title', 'name', 'model_name');
    el.textContent = `${models.length} model${models.length === 1 ? '' : 's'}${info.taesd ? ' · TAESD previews' : ''}`;
}

setupTabs();
serverLine();
window.addEventListener('hashchange', () => {
    const name = location.hash.slice(1);
    if (views[name]) show(name);
});
const first = location.hash.slice(1);
show(views[first] ? first : 'settings');
