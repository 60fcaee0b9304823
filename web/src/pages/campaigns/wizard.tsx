import { useEffect, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Group, NativeSelect, NumberInput, Stack, Text, TextInput, Textarea, Title } from '@mantine/core';
import { ApiError } from '../../api/errors';
import { usePageTitle } from '../../components/page-title';
import { ErrorState, Loading } from '../../components/states';
import { checkTemplate, commandCampaign, createCampaign, createTemplate, dryRun, fetchTemplates, PURPOSES, type Channel, type SmsLength, type TemplatePurpose } from './api';
import { RecipientsStep } from './recipients-step';
import { DryRunReport } from './dry-run-report';

/** A template that speaks each recipient's own appointment (the server fills these per recipient). */
const PERSONAL = /\{appointment_(?:day|time|location)\}/;

/** Said wherever a personal template is chosen: nobody types a day or a time for the campaign. */
function PersonalNote() {
  return (
    <Alert color="blue" title="Each recipient hears their own appointment" mt="xs">
      The day, time and location are taken from each recipient&rsquo;s appointment: the one named in the CSV&rsquo;s <code>appointment_id</code> column, or else their next booked or
      confirmed one. Anyone with no upcoming appointment is skipped (the dry run counts them).
    </Alert>
  );
}

/** How long the text rests before the PHI check runs on it (each keystroke would be a request). */
const CHECK_DELAY_MS = 300;
const STEPS = ['Message', 'Campaign', 'Recipients', 'Dry run and start'] as const;
const fieldError = (err: unknown, field: string): string | undefined => (err instanceof ApiError ? err.fieldProblem(field) : undefined);

/** The value after it has stopped changing for `ms`. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return settled;
}

/**
 * A new campaign in four steps, each on the API: the message (a template of the practice's, or a
 * new one with the PHI check's verdict shown as it is typed: POST /api/drop-templates/check), the
 * campaign (a draft: POST /api/campaigns), its recipients (a CSV of patient ids or a patient
 * search), then the dry run with each refusal's reason, and start. Everything lives in the page's
 * memory; the campaign's id is the only thing that reaches a URL, once it is started.
 */
export function CampaignWizard() {
  usePageTitle('New campaign');
  const [step, setStep] = useState(0);
  const [templateId, setTemplateId] = useState<string | null>(null);
  const [campaignId, setCampaignId] = useState<string | null>(null);
  const [channel, setChannel] = useState<Channel>('rvm');
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        New campaign
      </Title>
      <ol className="wizard-steps" aria-label="Steps">
        {STEPS.map((name, i) => (
          <li key={name} aria-current={i === step ? 'step' : undefined} className={i === step ? 'wizard-step-current' : i < step ? 'wizard-step-done' : undefined}>
            {i + 1}. {name}
            {i < step ? <span className="visually-hidden"> (done)</span> : null}
          </li>
        ))}
      </ol>
      {step === 0 ? (
        <NativeSelect
          label="Channel"
          description="Ringless voicemail leaves a recorded message; SMS sends a text through the practice's Twilio Messaging Service."
          value={channel}
          onChange={(e) => setChannel(e.currentTarget.value as Channel)}
          data={[
            { value: 'rvm', label: 'Ringless voicemail' },
            { value: 'sms', label: 'SMS (text message)' },
          ]}
        />
      ) : null}
      {step === 0 ? (
        <MessageStep
          key={channel}
          channel={channel}
          onChosen={(id) => {
            setTemplateId(id);
            setStep(1);
          }}
        />
      ) : null}
      {step === 1 && templateId ? (
        <CampaignStep
          templateId={templateId}
          channel={channel}
          onBack={() => setStep(0)}
          onCreated={(id) => {
            setCampaignId(id);
            setStep(2);
          }}
        />
      ) : null}
      {step === 2 && campaignId ? <RecipientsStep campaignId={campaignId} onDone={() => setStep(3)} /> : null}
      {step === 3 && campaignId ? <StartStep campaignId={campaignId} onBack={() => setStep(2)} /> : null}
    </Stack>
  );
}

/** Step 1: one of the practice's templates, or a new one checked as it is typed. */
function MessageStep({ channel, onChosen }: { channel: Channel; onChosen: (templateId: string) => void }) {
  const client = useQueryClient();
  const templates = useQuery({ queryKey: ['drop-templates'], queryFn: ({ signal }) => fetchTemplates(signal), retry: false });
  const [chosen, setChosen] = useState('');
  const [draft, setDraft] = useState<{ name: string; purpose: TemplatePurpose; text: string }>({ name: '', purpose: 'recall', text: '' });
  const settled = useSettled({ purpose: draft.purpose, text: draft.text.trim() }, CHECK_DELAY_MS);
  // The template's words are the practice's, not a patient's; the query lives in memory only.
  const check = useQuery({ queryKey: ['drop-template-check', channel, settled.purpose, settled.text], queryFn: ({ signal }) => checkTemplate({ ...settled, channel }, signal), enabled: settled.text !== '', retry: false, staleTime: Infinity, gcTime: 0 });
  const save = useMutation({
    mutationFn: () => createTemplate({ ...draft, channel }),
    onSuccess: (t) => {
      void client.invalidateQueries({ queryKey: ['drop-templates'] });
      onChosen(t.id);
    },
  });
  const current = check.data && settled.text === draft.text.trim() && settled.purpose === draft.purpose ? check.data : null;
  const useExisting = (e: FormEvent): void => {
    e.preventDefault();
    if (chosen) onChosen(chosen);
  };
  const saveNew = (e: FormEvent): void => {
    e.preventDefault();
    save.mutate();
  };
  const selected = templates.data?.templates.find((t) => t.id === chosen);
  const ofChannel = templates.data?.templates.filter((t) => t.channel === channel) ?? [];
  return (
    <Stack gap="lg">
      <section aria-labelledby="existing-template-heading">
        <Title order={2} size="h4" id="existing-template-heading" mb="xs">
          Use a template
        </Title>
        {templates.isPending ? <Loading label="Loading templates" /> : null}
        {templates.isError ? <ErrorState error={templates.error} title="Could not load the templates" onRetry={() => void templates.refetch()} /> : null}
        {templates.data ? (
          <form onSubmit={useExisting} aria-label="Use a template" className="filters">
            <NativeSelect
              label="Template"
              value={chosen}
              onChange={(e) => setChosen(e.currentTarget.value)}
              data={[{ value: '', label: 'Choose…' }, ...ofChannel.map((t) => ({ value: t.id, label: `${t.name}${t.builtIn ? ' (built in)' : ''}` }))]}
            />
            <div className="filters-actions">
              <Button type="submit" disabled={!chosen}>
                Use this template
              </Button>
            </div>
          </form>
        ) : null}
        {selected ? (
          <Text size="sm" mt="xs" className="template-text">
            {selected.text}
          </Text>
        ) : null}
        {selected && PERSONAL.test(selected.text) ? <PersonalNote /> : null}
      </section>
      <section aria-labelledby="new-template-heading">
        <Title order={2} size="h4" id="new-template-heading" mb="xs">
          Or write one
        </Title>
        <form onSubmit={saveNew} aria-label="Write a template">
          <Stack gap="sm">
            <TextInput label="Template name" required value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.currentTarget.value })} error={fieldError(save.error, 'name')} />
            <NativeSelect label="Purpose" value={draft.purpose} onChange={(e) => setDraft({ ...draft, purpose: e.currentTarget.value as TemplatePurpose })} data={PURPOSES} />
            <Textarea
              label="Message"
              description={`Placeholders: {practice_name}, {callback_number} (both required), {office_hours}; for reminders {appointment_day}, {appointment_time}, {appointment_location}, which each recipient ${channel === 'sms' ? 'reads' : 'hears'} from their own appointment. No names, dates, conditions or numbers of a patient.${channel === 'sms' ? ' The first text to a number ends with “Reply STOP to opt out.”, added when sent.' : ''}`}
              required
              autosize
              minRows={3}
              value={draft.text}
              onChange={(e) => setDraft({ ...draft, text: e.currentTarget.value })}
              error={fieldError(save.error, 'text')}
            />
            {PERSONAL.test(draft.text) ? <PersonalNote /> : null}
            <div role="status" aria-live="polite" aria-label="PHI check">
              {draft.text.trim() === '' ? null : !current ? (
                <Text size="sm" c="dimmed">
                  Checking…
                </Text>
              ) : current.ok ? (
                <Alert color="green" title="The check passes">
                  Nothing in this message identifies a patient or a condition.
                </Alert>
              ) : (
                <Alert color="red" title="The check refuses this message">
                  <ul className="field-problems">
                    {current.problems.map((p, i) => (
                      <li key={`${p.kind}-${p.term}-${i}`}>
                        <strong>{p.kind.replaceAll('_', ' ')}</strong>: “{p.term}”
                      </li>
                    ))}
                  </ul>
                </Alert>
              )}
              {channel === 'sms' && current?.sms ? <SmsLengthNote length={current.sms} /> : null}
              {check.isError ? <ErrorState error={check.error} title="The check could not run" onRetry={() => void check.refetch()} /> : null}
            </div>
            <Group>
              <Button type="submit" loading={save.isPending} disabled={!current?.ok || draft.name.trim() === ''}>
                Save and use this message
              </Button>
            </Group>
            {save.isError && !fieldError(save.error, 'name') && !fieldError(save.error, 'text') ? <ErrorState error={save.error} title="The template was not saved" /> : null}
          </Stack>
        </form>
      </section>
    </Stack>
  );
}

/** An SMS template's length: segments and encoding as written, and at its worst (placeholders at their longest, with the opt-out sentence). */
function SmsLengthNote({ length }: { length: SmsLength }) {
  return (
    <Text size="sm" mt="xs" aria-label="SMS length">
      {length.segments} segment{length.segments === 1 ? '' : 's'} ({length.encoding}, {length.units} characters as written); at most {length.worstCase.segments} with the longest values and the opt-out sentence
      {length.worstCase.encoding === 'UCS-2' ? ' — a character outside GSM-7 makes every segment 70 (67) characters' : ''}. The limit is {length.maxSegments}.
    </Text>
  );
}

/** Step 2: the campaign as a draft (name, vendor, rate); its message rendered back by the service. */
function CampaignStep({ templateId, channel, onBack, onCreated }: { templateId: string; channel: Channel; onBack: () => void; onCreated: (id: string) => void }) {
  const [draft, setDraft] = useState<{ name: string; provider: 'rvm_http' | 'twilio'; ratePerMinute: number | string }>({ name: '', provider: channel === 'sms' ? 'twilio' : 'rvm_http', ratePerMinute: 30 });
  const create = useMutation({ mutationFn: () => createCampaign({ name: draft.name, templateId, provider: channel === 'sms' ? 'twilio' : draft.provider, ratePerMinute: Number(draft.ratePerMinute), channel }), onSuccess: (c) => onCreated(c.id) });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form onSubmit={submit} aria-label="The campaign">
      <Stack gap="sm">
        <TextInput label="Campaign name" description="for staff; never heard by patients" required value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.currentTarget.value })} error={fieldError(create.error, 'name')} />
        {channel === 'sms' ? (
          <Text size="sm">Sent by SMS through the practice&apos;s Twilio Messaging Service.</Text>
        ) : (
          <NativeSelect
            label="Send through"
            value={draft.provider}
            onChange={(e) => setDraft({ ...draft, provider: e.currentTarget.value as 'rvm_http' | 'twilio' })}
            data={[
              { value: 'rvm_http', label: 'The ringless-voicemail vendor' },
              { value: 'twilio', label: 'Twilio (the phone rings)' },
            ]}
          />
        )}
        <NumberInput label={channel === 'sms' ? 'Messages a minute' : 'Drops a minute'} min={1} max={600} allowDecimal={false} value={draft.ratePerMinute} onChange={(v) => setDraft({ ...draft, ratePerMinute: v })} error={fieldError(create.error, 'ratePerMinute')} />
        {create.isError && !fieldError(create.error, 'name') ? <ErrorState error={create.error} title="The campaign was not created" /> : null}
        <Group>
          <Button variant="default" onClick={onBack}>
            Back
          </Button>
          <Button type="submit" loading={create.isPending}>
            Create the draft
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/** Step 4: the dry run (who would get a drop now, later, never, and why), then start. */
function StartStep({ campaignId, onBack }: { campaignId: string; onBack: () => void }) {
  const navigate = useNavigate();
  const run = useMutation({ mutationFn: () => dryRun(campaignId) });
  const start = useMutation({ mutationFn: () => commandCampaign(campaignId, 'start'), onSuccess: () => void navigate(`/campaigns/${campaignId}`) });
  return (
    <Stack gap="sm">
      <Text size="sm">The dry run decides each recipient as the start would, and sends nothing.</Text>
      <Group>
        <Button variant="default" onClick={onBack}>
          Back
        </Button>
        <Button onClick={() => run.mutate()} loading={run.isPending}>
          Dry run
        </Button>
      </Group>
      {run.isError ? <ErrorState error={run.error} title="The dry run failed" onRetry={() => run.mutate()} /> : null}
      {run.data ? (
        <>
          <DryRunReport report={run.data} />
          <Group>
            <Button color="green" onClick={() => start.mutate()} loading={start.isPending} disabled={run.data.recipients === 0}>
              Start the campaign
            </Button>
          </Group>
        </>
      ) : null}
      {start.isError ? <ErrorState error={start.error} title="The campaign did not start" /> : null}
    </Stack>
  );
}
