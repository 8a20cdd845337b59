// Start-up shared by the pipelines: a half-opened pipeline must not leak its
// devices and sockets when a later step fails.

/** Runs open(); if it throws, close() releases what it opened, then the error goes on. */
export function openOrClose(open: () => void, close: () => void): void {
  try {
    open();
  } catch (e) {
    close();
    throw e;
  }
}
