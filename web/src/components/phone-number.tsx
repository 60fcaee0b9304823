import './components.css';
import { showNumber } from './format';

/** A number, masked or withheld said in words (an auditor's "Masked" is a fact, not a blank). */
export function PhoneNumber({ number, none }: { number: string | null; none?: string }) {
  const shown = showNumber(number, none);
  if (shown.kind === 'full') return <span className="mono">{shown.text}</span>;
  return (
    <span className="number-hidden" title={shown.kind === 'masked' ? 'Numbers are masked for auditors' : undefined}>
      {shown.text}
    </span>
  );
}
