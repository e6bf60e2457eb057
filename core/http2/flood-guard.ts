/**
 * Caps on the work a peer can cause without making requests (the HTTP/2 flood attacks: CVE-2019-9512 PING,
 * -9515 SETTINGS, -9518 empty frames, CVE-2023-44487 rapid reset). A connection past a cap is closed with
 * GOAWAY ENHANCE_YOUR_CALM. Each check is a counter, so the frame loop allocates nothing. The numbers are
 * nghttp2's defaults, i.e. what node:http2 enforces.
 */

/** Frames we owe the peer (PING and SETTINGS ACKs, RST_STREAMs) queued while it does not read them. */
export const MAX_QUEUED_CONTROL_FRAMES = 1000;
/** Frames carrying nothing (DATA without payload or END_STREAM, empty header fragments) between two requests. */
export const MAX_EMPTY_FRAMES = 1000;
/** RST_STREAMs from the peer: a token bucket of this many, refilled at RESET_RATE per second. */
export const RESET_BURST = 1000;
export const RESET_RATE = 33;

export class FloodGuard {
  private queuedControl = 0;
  private emptyFrames = 0;
  private resetTokens = RESET_BURST;

  /** Starts the reset bucket full at the clock reading given (performance.now(); tests pass their own). */
  constructor(private resetsCountedAt = performance.now()) {}

  /** We queued a frame the peer asked for; true once more than the cap are waiting for it to read them. */
  controlFrameQueued(): boolean {
    return ++this.queuedControl > MAX_QUEUED_CONTROL_FRAMES;
  }

  /** Our write queue ran empty: the peer reads what it asks for. */
  writeQueueEmptied(): void {
    this.queuedControl = 0;
  }

  /** A frame that carries nothing; true past the cap. */
  emptyFrame(): boolean {
    return ++this.emptyFrames > MAX_EMPTY_FRAMES;
  }

  /** A request reached its handler: empty frames count again from zero. */
  requestCompleted(): void {
    this.emptyFrames = 0;
  }

  /** The peer reset a stream; true when it resets faster than the bucket allows. */
  peerReset(now = performance.now()): boolean {
    this.resetTokens = Math.min(RESET_BURST, this.resetTokens + ((now - this.resetsCountedAt) * RESET_RATE) / 1000);
    this.resetsCountedAt = now;
    if (this.resetTokens < 1) return true;
    this.resetTokens--;
    return false;
  }
}
