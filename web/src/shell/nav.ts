/**
 * The console's sections, in the order staff work through them. A section appears as a link
 * once its page is built; until then it is listed, disabled, so people see what is coming.
 */
export interface Section {
  label: string;
  path: string;
  built: boolean;
}

export const SECTIONS: readonly Section[] = [
  { label: 'Overnight', path: '/overnight', built: true },
  { label: 'Callbacks', path: '/callbacks', built: true },
  { label: 'Voicemail', path: '/voicemail', built: true },
  { label: 'Calls', path: '/calls', built: true },
  { label: 'On call', path: '/on-call', built: true },
  { label: 'Patients', path: '/patients', built: true },
  { label: 'Campaigns', path: '/campaigns', built: true },
  { label: 'Audit', path: '/audit', built: true },
  { label: 'Settings', path: '/settings', built: true },
];
