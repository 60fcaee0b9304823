import { useState } from 'react';
import { Alert } from '@mantine/core';
import { audioUrl } from './api';

/**
 * A voicemail's player: an <audio> element streaming the API's audio route (same origin, the
 * session cookie, HTTP ranges for seeking). Never a blob URL: nothing outlives the page.
 */
export function VoicemailPlayer({ id, label }: { id: string; label: string }) {
  const [failed, setFailed] = useState(false);
  if (failed) {
    return (
      <Alert color="red" role="alert">
        This recording could not be played.
      </Alert>
    );
  }
  return <audio controls preload="metadata" src={audioUrl(id)} aria-label={label} onError={() => setFailed(true)} className="voicemail-player" />;
}
