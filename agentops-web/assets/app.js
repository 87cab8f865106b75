// AgentOps dashboard: the little the pages need beyond htmx. No inline script anywhere
// (the Content-Security-Policy forbids it); everything hangs off data-* attributes.
(function () {
  'use strict';

  // Every event family the server names its SSE messages after (live::FAMILIES in
  // live.rs; a unit test there keeps the two lists equal).
  var FAMILIES = ['task', 'agent', 'approval', 'project', 'artifact', 'key', 'budget',
    'schedule', 'thread', 'message', 'usage', 'note', 'deployment', 'pairing', 'persona', 'tool',
    'preview', 'other'];

  // The last event id this page has seen, for resuming after a drop.
  var live = window.agentopsLive = { lastId: null, opened: 0, received: 0 };

  function withSince(url) {
    if (live.lastId === null) return url;
    return url.replace(/([?&])since=\d+/, '$1since=' + live.lastId);
  }

  // The browser's EventSource resumes by itself with Last-Event-ID after a drop. When
  // it gives up (CLOSED) the SSE extension makes a new one: that one starts from the
  // last id seen rather than from the page's first `since`.
  // Parts marked data-refresh-on="task,agent" re-fetch themselves (hx-trigger="refresh")
  // when an event of those families arrives: at once if idle, else once more at the end
  // of their data-refresh-ms window, so the last event is never left unseen and a burst
  // of events costs one request per window. (htmx's own `throttle` drops the trailing
  // event.)
  var pending = new WeakMap();
  function schedule(elt) {
    var state = pending.get(elt) || { last: 0, waiting: false };
    pending.set(elt, state);
    if (state.waiting) return;
    var gap = Number(elt.getAttribute('data-refresh-ms')) || 500;
    state.waiting = true;
    setTimeout(function () {
      state.waiting = false;
      state.last = Date.now();
      if (document.body.contains(elt)) window.htmx.trigger(elt, 'refresh');
    }, Math.max(0, state.last + gap - Date.now()));
  }
  function refreshParts(family) {
    document.querySelectorAll('[data-refresh-on]').forEach(function (elt) {
      if (elt.getAttribute('data-refresh-on').split(',').indexOf(family) >= 0) schedule(elt);
    });
  }

  function install() {
    if (!window.htmx) return;
    window.htmx.createEventSource = function (url) {
      var source = new EventSource(withSince(url), { withCredentials: true });
      live.opened += 1;
      // The session ended while the page was open: sign in again, then come back.
      source.addEventListener('signed-out', function () {
        source.close();
        window.location.assign('/login?next=' + encodeURIComponent(window.location.pathname + window.location.search));
      });
      // The stream cannot resume from where the page is (its position was deleted by
      // retention): start again from now.
      source.addEventListener('reload', function () {
        source.close();
        window.location.reload();
      });
      FAMILIES.forEach(function (name) {
        source.addEventListener(name, function (event) {
          if (event.lastEventId) live.lastId = Number(event.lastEventId);
          live.received += 1;
          refreshParts(name);
        });
      });
      return source;
    };
  }
  install();

  // Lists with data-cap keep at most that many rows (a page left open for hours keeps
  // its memory flat).
  function cap(list) {
    var max = Number(list.getAttribute('data-cap'));
    if (!max) return;
    var newestFirst = list.getAttribute('hx-swap') === 'afterbegin';
    while (list.children.length > max) {
      list.removeChild(newestFirst ? list.lastElementChild : list.firstElementChild);
    }
  }

  // Pause a feed: messages are held (up to its cap) and shown on resume.
  var held = [];
  function pausedFeed(elt) {
    var button = document.querySelector('[data-pause]');
    if (!button || button.getAttribute('aria-pressed') !== 'true') return false;
    return elt.matches(button.getAttribute('data-pause'));
  }

  document.addEventListener('htmx:sseBeforeMessage', function (event) {
    var elt = event.target;
    if (pausedFeed(elt)) {
      event.preventDefault();
      held.push(event.detail.data);
      var max = Number(elt.getAttribute('data-cap')) || 300;
      if (held.length > max) held.shift();
      var counter = document.getElementById('paused-count');
      if (counter) counter.textContent = held.length + ' new while paused';
    }
  });

  document.addEventListener('htmx:sseMessage', function (event) {
    if (event.target.hasAttribute('data-cap')) cap(event.target);
  });

  document.addEventListener('click', function (event) {
    var pause = event.target.closest('[data-pause]');
    if (pause) {
      var pressed = pause.getAttribute('aria-pressed') === 'true';
      pause.setAttribute('aria-pressed', pressed ? 'false' : 'true');
      pause.textContent = pressed ? 'Pause' : 'Resume';
      if (pressed) {
        var feed = document.querySelector(pause.getAttribute('data-pause'));
        if (feed) {
          held.forEach(function (html) { feed.insertAdjacentHTML('afterbegin', html); });
          held = [];
          cap(feed);
          if (window.htmx) window.htmx.process(feed);
        }
        var counter = document.getElementById('paused-count');
        if (counter) counter.textContent = '';
      }
      return;
    }
    var copy = event.target.closest('[data-copy]');
    if (copy) {
      var source = document.querySelector(copy.getAttribute('data-copy'));
      if (!source) return;
      source.select();
      var done = function () { copy.textContent = 'Copied'; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(done, function () {
          document.execCommand('copy'); done();
        });
      } else {
        document.execCommand('copy'); done();
      }
    }
  });

  // Voice on the Chat page: 🎤 records with MediaRecorder until pressed again, then the
  // recording goes to data-record (with the form's CSRF token); what was heard, or why
  // not, shows beside the button, and the conversation refreshes. 🔊 plays an answer.
  var recording = null;
  function say(text) {
    var status = document.getElementById('record-status');
    if (status) status.textContent = text;
  }
  function upload(button, blob) {
    var form = button.closest('form');
    var data = new FormData();
    var csrf = form && form.querySelector('input[name=csrf]');
    data.append('csrf', csrf ? csrf.value : '');
    var type = blob.type || 'audio/webm';
    data.append('file', blob, 'voice.' + (type.indexOf('ogg') >= 0 ? 'ogg' : type.indexOf('mp4') >= 0 ? 'mp4' : 'webm'));
    say('Listening to what you said…');
    fetch(button.getAttribute('data-record'), { method: 'POST', body: data, credentials: 'same-origin' })
      .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
      .then(function (answer) {
        say(answer[0] ? '🎙 ' + answer[1].heard : answer[1].error);
        var conversation = document.getElementById('conversation');
        if (conversation && window.htmx) window.htmx.trigger(conversation, 'refresh');
      }, function () { say('The recording could not be sent: try again.'); });
  }
  function record(button) {
    if (recording) { recording.stop(); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      say('This browser cannot record here (a secure page is needed).');
      return;
    }
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var chunks = [];
      recording = new MediaRecorder(stream);
      recording.addEventListener('dataavailable', function (event) { if (event.data.size) chunks.push(event.data); });
      recording.addEventListener('stop', function () {
        var type = recording.mimeType;
        recording = null;
        stream.getTracks().forEach(function (track) { track.stop(); });
        button.setAttribute('aria-pressed', 'false');
        button.textContent = '🎤 Speak';
        upload(button, new Blob(chunks, { type: type || 'audio/webm' }));
      });
      recording.start();
      button.setAttribute('aria-pressed', 'true');
      button.textContent = '■ Stop';
      say('Recording… press Stop when you are done.');
    }, function (err) {
      say('The microphone is not available: ' + (err && err.message ? err.message : err));
    });
  }
  document.addEventListener('click', function (event) {
    var button = event.target.closest('[data-record]');
    if (button) { record(button); return; }
    var play = event.target.closest('[data-speak]');
    if (play) {
      var audio = new Audio(play.getAttribute('data-speak'));
      play.setAttribute('aria-busy', 'true');
      audio.addEventListener('ended', function () { play.removeAttribute('aria-busy'); });
      audio.addEventListener('error', function () { play.removeAttribute('aria-busy'); play.textContent = '🔇'; });
      audio.play().catch(function () { play.removeAttribute('aria-busy'); play.textContent = '🔇'; });
    }
  });

  // A part that refreshes itself keeps open the <details> (with an id) a person opened:
  // the source they are reading does not fold away when another event arrives.
  var opened = new WeakMap();
  document.addEventListener('htmx:beforeSwap', function (event) {
    var target = event.detail && event.detail.target;
    if (!target || !target.querySelectorAll) return;
    var ids = [];
    target.querySelectorAll('details[id][open]').forEach(function (d) { ids.push(d.id); });
    if (ids.length) opened.set(target, ids);
  });
  document.addEventListener('htmx:afterSwap', function (event) {
    var target = event.detail && event.detail.target;
    if (!target || !opened.has(target)) return;
    opened.get(target).forEach(function (id) {
      var details = document.getElementById(id);
      if (details) details.open = true;
    });
    opened.delete(target);
  });

  // A live page shows whether its stream is connected.
  document.addEventListener('htmx:sseOpen', function () {
    document.documentElement.setAttribute('data-live', 'open');
  });
  document.addEventListener('htmx:sseError', function () {
    document.documentElement.setAttribute('data-live', 'reconnecting');
  });
})();
