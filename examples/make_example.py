#!/usr/bin/env python3
"""Synthesize a short, royalty-free pop/rock-style example clip.

Everything is generated from scratch with numpy (no samples, no network), using a
fixed random seed, so the float signal is bit-for-bit reproducible. The result is
written as mono OGG Vorbis at 22050 Hz (``example.ogg`` next to this script).

Arrangement (C major, 116 BPM, 4/4): one intro bar on G, then a repeating
I-vi-IV-V (C - Am - F - G) progression with drums, bass, a detuned-saw pad and
an FM pluck lead playing two alternating four-bar phrases.

Usage::

    python examples/make_example.py [--out PATH] [--seconds 20]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050
BPM = 116.0
BEAT = 60.0 / BPM
BAR = 4 * BEAT
SEED = 20240607

# Chord progression (bar 0 is a G intro bar, then C - Am - F - G repeating).
# Each chord: (bass root MIDI note, voice-led pad voicing as MIDI notes).
INTRO_CHORD = (43, (59, 62, 67))
PROGRESSION = [
    (36, (60, 64, 67)),  # C
    (33, (60, 64, 69)),  # Am
    (41, (60, 65, 69)),  # F
    (43, (59, 62, 67)),  # G
]

# Melody phrases: one list of (beat offset, length in beats, MIDI note) per bar.
PHRASE_A = [
    [(0, 1, 76), (1, 0.5, 79), (1.5, 0.5, 76), (2, 1, 74), (3, 1, 72)],
    [(0, 0.5, 72), (0.5, 0.5, 76), (1, 1.5, 81), (2.5, 0.5, 79), (3, 1, 76)],
    [(0, 1, 77), (1, 0.5, 81), (1.5, 0.5, 79), (2, 1, 77), (3, 1, 76)],
    [(0, 1.5, 74), (1.5, 0.5, 76), (2, 1, 74), (3, 1, 71)],
]
PHRASE_B = [
    [(0, 1, 79), (1, 1, 76), (2, 0.5, 79), (2.5, 0.5, 81), (3, 1, 79)],
    [(0, 2, 76), (2, 0.5, 74), (2.5, 0.5, 72), (3, 1, 74)],
    [(0, 1, 72), (1, 1, 77), (2, 1, 81), (3, 1, 84)],
    [(0, 2, 83), (2, 1, 86), (3, 1, 83)],
]


def midi_to_hz(note: float) -> float:
    """Convert a MIDI note number to frequency in Hz (A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def time_axis(seconds: float) -> np.ndarray:
    """Return sample times in seconds for a buffer of the given length."""
    return np.arange(int(round(seconds * SR))) / SR


def place(buf: np.ndarray, sig: np.ndarray, start_s: float, gain: float = 1.0) -> None:
    """Mix ``sig`` into ``buf`` starting at ``start_s`` seconds (clipped to buf)."""
    i0 = int(round(start_s * SR))
    if i0 >= len(buf):
        return
    n = min(len(sig), len(buf) - i0)
    buf[i0 : i0 + n] += gain * sig[:n]


def fft_filter(x: np.ndarray, lo_hz: float = 0.0, hi_hz: float = SR / 2) -> np.ndarray:
    """Band-limit ``x`` with a soft-edged FFT mask between ``lo_hz`` and ``hi_hz``."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / SR)
    mask = 1.0 / (1.0 + (lo_hz / np.maximum(f, 1e-3)) ** 4)
    mask *= 1.0 / (1.0 + (f / hi_hz) ** 4)
    return np.fft.irfft(spec * mask, n=len(x))


def adsr(n: int, attack: float, release: float, sustain_s: float) -> np.ndarray:
    """Linear attack, flat sustain for ``sustain_s`` seconds, exponential release."""
    t = np.arange(n) / SR
    env = np.minimum(t / max(attack, 1e-4), 1.0)
    tail = t > sustain_s
    env[tail] *= np.exp(-(t[tail] - sustain_s) / max(release, 1e-4))
    return env


# --------------------------------------------------------------------------- drums


def kick(rng: np.random.Generator) -> np.ndarray:
    """Kick drum: exponentially swept sine (150 -> 49 Hz, ~G1) with a short click."""
    t = time_axis(0.45)
    freq = 49.0 + 101.0 * np.exp(-t / 0.04)
    body = np.sin(2 * np.pi * np.cumsum(freq) / SR) * np.exp(-t / 0.18)
    click = fft_filter(rng.standard_normal(len(t)), 1000, 6000) * np.exp(-t / 0.004)
    return body + 0.25 * click


def snare(rng: np.random.Generator) -> np.ndarray:
    """Snare drum: band-passed noise burst plus a decaying 196 Hz (G3) tone."""
    t = time_axis(0.3)
    noise = fft_filter(rng.standard_normal(len(t)), 1500, 8000)
    noise *= np.exp(-t / 0.07) / np.max(np.abs(noise))
    tone = np.sin(2 * np.pi * 196.0 * t) * np.exp(-t / 0.05)
    return 0.8 * noise + 0.5 * tone


def hihat(rng: np.random.Generator, decay: float = 0.018) -> np.ndarray:
    """Closed hi-hat: high-passed (> 7 kHz) noise tick with a fast decay."""
    t = time_axis(max(0.08, 6 * decay))
    noise = fft_filter(rng.standard_normal(len(t)), 7000, SR / 2)
    noise /= np.max(np.abs(noise))
    return noise * np.exp(-t / decay)


def drum_track(n_bars: int, rng: np.random.Generator, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Render the drum groove; also return the kick times (s) for sidechain ducking."""
    buf = np.zeros(length)
    k, s = kick(rng), snare(rng)
    hats = [hihat(rng) for _ in range(4)]
    open_hat = hihat(rng, decay=0.12)
    kick_times = []
    for b in range(n_bars):
        t0 = b * BAR
        fill = b % 4 == 0 and b > 0  # small fill leading into each new 4-bar phrase
        kick_steps = [0, 8, 10] if b % 2 == 0 else [0, 6, 8]  # 16th-note steps
        for step in kick_steps:
            kick_times.append(t0 + step * BEAT / 4)
            place(buf, k, kick_times[-1], 1.0)
        for beat in (1, 3):
            place(buf, s, t0 + beat * BEAT, 0.75)
        if fill:
            for step in (-3, -2, -1):  # three 16th snares just before the downbeat
                place(buf, s, t0 + step * BEAT / 4, 0.25 + 0.1 * (step + 3))
        for eighth in range(8):
            vel = (0.35 if eighth % 2 == 0 else 0.22) * rng.uniform(0.85, 1.15)
            if eighth == 7 and b % 2 == 1:
                place(buf, open_hat, t0 + eighth * BEAT / 2, 0.25)
            else:
                place(buf, hats[rng.integers(len(hats))], t0 + eighth * BEAT / 2, vel)
    return buf, np.array(kick_times)


# ------------------------------------------------------------------ tonal voices


def bandlimited_saw(freq: float, t: np.ndarray, cutoff: float, phase: float = 0.0) -> np.ndarray:
    """Additive sawtooth with harmonics rolled off above ``cutoff`` Hz (no aliasing)."""
    out = np.zeros_like(t)
    k = 1
    while k * freq < min(SR / 2 - 500, 4 * cutoff):
        rolloff = 1.0 / (1.0 + (k * freq / cutoff) ** 2)
        out += rolloff * np.sin(2 * np.pi * k * freq * t + k * phase) / k
        k += 1
    return out


def pad_chord(notes: tuple[int, ...], dur: float, rng: np.random.Generator) -> np.ndarray:
    """Sustained pad: two detuned saws per note (+-7 cents), slow attack, soft release."""
    release = 0.35
    t = time_axis(dur + 4 * release)
    sig = np.zeros_like(t)
    for note in notes:
        for cents in (-7.0, 7.0):
            f = midi_to_hz(note + cents / 100.0)
            sig += bandlimited_saw(f, t, cutoff=1400.0, phase=rng.uniform(0, 2 * np.pi))
    return sig * adsr(len(t), attack=0.12, release=release, sustain_s=dur) / len(notes)


def bass_note(note: int, dur: float) -> np.ndarray:
    """Bass: saw + sub-sine, low cutoff, plucky envelope with a short release."""
    f = midi_to_hz(note)
    t = time_axis(dur + 0.1)
    sig = 0.6 * bandlimited_saw(f, t, cutoff=450.0) + 0.7 * np.sin(2 * np.pi * f * t)
    env = adsr(len(t), attack=0.004, release=0.02, sustain_s=dur)
    env *= 0.6 + 0.4 * np.exp(-t / 0.12)
    return sig * env


def bass_track(chords: list[tuple[int, tuple[int, ...]]], length: int) -> np.ndarray:
    """Eighth-note bass line on the chord roots with octave and fifth passing notes."""
    buf = np.zeros(length)
    pattern = [0, 0, 12, 0, 0, 0, 7, 0]
    for b, (root, _) in enumerate(chords):
        for i, interval in enumerate(pattern):
            vel = 1.0 if i % 2 == 0 else 0.8
            place(buf, bass_note(root + interval, 0.85 * BEAT / 2), b * BAR + i * BEAT / 2, vel)
    return buf


def pluck(note: int, dur: float) -> np.ndarray:
    """FM pluck lead: 1:2 carrier/modulator with a decaying index and light vibrato."""
    f = midi_to_hz(note)
    t = time_axis(dur + 0.4)
    vib = 1.0 + 0.004 * np.sin(2 * np.pi * 5.5 * t) * np.minimum(t / 0.3, 1.0)
    phase = 2 * np.pi * np.cumsum(f * vib) / SR
    index = 2.5 * np.exp(-t / 0.09) + 0.4
    sig = np.sin(phase + index * np.sin(2 * phase))
    env = adsr(len(t), attack=0.005, release=0.12, sustain_s=dur)
    env *= 0.45 + 0.55 * np.exp(-t / 0.25)
    return sig * env


def melody_track(n_bars: int, length: int) -> np.ndarray:
    """Lead melody from bar 1 on (phrases A, B alternating), with a simple echo."""
    buf = np.zeros(length)
    for b in range(1, n_bars):
        idx = (b - 1) % 8
        phrase = PHRASE_A if idx < 4 else PHRASE_B
        for offset, beats, note in phrase[idx % 4]:
            place(buf, pluck(note, 0.9 * beats * BEAT), b * BAR + offset * BEAT)
    # Dotted-eighth feedback echo (a few taps) for some space.
    delay = int(round(0.75 * BEAT * SR))
    wet = np.zeros_like(buf)
    for tap in range(1, 4):
        wet[tap * delay :] += (0.3**tap) * buf[: len(buf) - tap * delay]
    return buf + fft_filter(wet, 200, 3500)


def sidechain(kick_times: np.ndarray, length: int, depth: float = 0.35) -> np.ndarray:
    """Gain curve that briefly ducks after every kick (the usual pop 'pump')."""
    t = np.arange(length) / SR
    gain = np.ones(length)
    for kt in kick_times:
        i0 = int(round(kt * SR))
        seg = t[i0 : i0 + int(0.4 * SR)] - kt
        window = slice(i0, i0 + len(seg))
        gain[window] = np.minimum(gain[window], 1 - depth * np.exp(-seg / 0.1))
    return gain


# ------------------------------------------------------------------------- mix


def synthesize(seconds: float = 20.0, seed: int = SEED) -> np.ndarray:
    """Render the full mono mix, peak-normalized to -1 dBFS with short fades."""
    rng = np.random.default_rng(seed)
    length = int(round(seconds * SR))
    n_bars = int(np.ceil(seconds / BAR))
    chords = [INTRO_CHORD] + [PROGRESSION[(b - 1) % 4] for b in range(1, n_bars)]

    drums, kick_times = drum_track(n_bars, rng, length)
    bass = bass_track(chords, length)
    pad = np.zeros(length)
    for b, (_, voicing) in enumerate(chords):
        place(pad, pad_chord(voicing, BAR - 0.05, rng), b * BAR)
    lead = melody_track(n_bars, length)

    duck = sidechain(kick_times, length)
    mix = 0.7 * drums + 0.3 * bass * duck + 0.25 * pad * duck + 0.38 * lead
    mix = np.tanh(mix)  # gentle bus saturation to tame drum peaks

    fade_in, fade_out = int(0.02 * SR), int(1.0 * SR)
    mix[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
    mix[-fade_out:] *= np.linspace(1.0, 0.0, fade_out) ** 2
    mix *= 10 ** (-1.0 / 20) / np.max(np.abs(mix))
    return mix.astype(np.float32)


def main() -> None:
    """Command-line entry point: synthesize and write the OGG Vorbis file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "example.ogg")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    x = synthesize(args.seconds)
    sf.write(args.out, x, SR, format="OGG", subtype="VORBIS")
    digest = hashlib.sha256(x.tobytes()).hexdigest()[:16]
    size_kib = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({len(x) / SR:.2f} s, {size_kib:.1f} KiB, sha256[float32]={digest})")


if __name__ == "__main__":
    main()
