import { useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Badge, Button, Checkbox, Group, Stack, Table, Text, TextInput, Textarea, Title } from '@mantine/core';
import { ErrorState } from '../../components/states';
import { NAMED_HOLIDAYS, WEEKDAYS, formatDayHours, parseDayHours, patchPractice, type NamedHoliday, type Practice, type Weekday, type WeeklyHours } from './api';

const DAY_LABELS: Record<Weekday, string> = { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday' };
const HOLIDAY_LABELS: Record<NamedHoliday, string> = {
  new_years_day: "New Year's Day",
  mlk_day: 'Martin Luther King Jr. Day',
  presidents_day: "Presidents' Day",
  memorial_day: 'Memorial Day',
  juneteenth: 'Juneteenth',
  independence_day: 'Independence Day',
  labor_day: 'Labor Day',
  columbus_day: 'Columbus Day',
  veterans_day: 'Veterans Day',
  thanksgiving: 'Thanksgiving',
  day_after_thanksgiving: 'Day after Thanksgiving',
  christmas_eve: 'Christmas Eve',
  christmas_day: 'Christmas Day',
  new_years_eve: "New Year's Eve",
};

/** Open or closed right now (the service's word), the week's hours and the holidays; admins edit them. */
export function HoursPanel({ practice, admin }: { practice: Practice; admin: boolean }) {
  const [editing, setEditing] = useState(false);
  const now = practice.hoursNow;
  return (
    <Stack gap="md">
      <Group gap="sm">
        <Title order={2} size="h3">
          Right now
        </Title>
        {now ? (
          <Badge size="lg" color={now.status === 'open' ? 'green' : 'gray'} variant="filled" className="status-badge">
            {now.status === 'open' ? 'Open' : now.status === 'holiday' ? 'Closed (holiday)' : 'Closed'}
          </Badge>
        ) : null}
      </Group>
      {now && now.status !== 'open' && now.nextOpening ? (
        <Text size="sm">
          Opens {new Date(now.nextOpening).toLocaleString(undefined, { weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit' })} (your time); the practice's clock is {practice.timeZone}.
        </Text>
      ) : (
        <Text size="sm">Hours are on the practice's clock ({practice.timeZone}).</Text>
      )}
      {editing ? (
        <HoursForm practice={practice} onDone={() => setEditing(false)} />
      ) : (
        <>
          <Table captionSide="top" className="narrow-table">
            <Table.Caption className="visually-hidden">Opening hours</Table.Caption>
            <Table.Tbody>
              {WEEKDAYS.map((d) => (
                <Table.Tr key={d}>
                  <Table.Th scope="row">{DAY_LABELS[d]}</Table.Th>
                  <Table.Td className="mono">{practice.weeklyHours[d].length === 0 ? 'closed' : formatDayHours(practice.weeklyHours[d])}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          <div>
            <Title order={3} size="h4">
              Holidays (closed)
            </Title>
            <Text size="sm">{practice.holidays.named.length === 0 ? 'No named holidays.' : practice.holidays.named.map((h) => HOLIDAY_LABELS[h]).join(', ')}</Text>
            <Text size="sm">{practice.holidays.dates.length === 0 ? 'No other dates.' : `Also: ${practice.holidays.dates.join(', ')}`}</Text>
          </div>
          {admin ? (
            <Group>
              <Button variant="default" onClick={() => setEditing(true)}>
                Edit hours and holidays
              </Button>
            </Group>
          ) : null}
        </>
      )}
    </Stack>
  );
}

function HoursForm({ practice, onDone }: { practice: Practice; onDone: () => void }) {
  const client = useQueryClient();
  const [days, setDays] = useState<Record<Weekday, string>>(() => Object.fromEntries(WEEKDAYS.map((d) => [d, formatDayHours(practice.weeklyHours[d])])) as Record<Weekday, string>);
  const [named, setNamed] = useState<string[]>(practice.holidays.named);
  const [dates, setDates] = useState(practice.holidays.dates.join(', '));
  const [localProblem, setLocalProblem] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (body: { weeklyHours: WeeklyHours; holidays: Practice['holidays'] }) => patchPractice(practice.id, body),
    onSuccess: (updated) => {
      client.setQueryData(['settings', practice.id, 'practice'], updated);
      onDone();
    },
  });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const weeklyHours = {} as WeeklyHours;
    for (const d of WEEKDAYS) {
      const parsed = parseDayHours(days[d]);
      if (parsed === null) return setLocalProblem(`${DAY_LABELS[d]}: write hours as 08:00-17:00 (several with commas), or leave it empty for closed`);
      weeklyHours[d] = parsed;
    }
    setLocalProblem(null);
    const dateList = dates.split(/[\s,]+/).filter((s) => s !== '');
    save.mutate({ weeklyHours, holidays: { dates: dateList, named: named as NamedHoliday[] } });
  };
  return (
    <form onSubmit={submit} aria-label="Edit hours and holidays">
      <Stack gap="sm">
        <div className="form-grid">
          {WEEKDAYS.map((d) => (
            <TextInput key={d} label={DAY_LABELS[d]} description="08:00-17:00; empty: closed" value={days[d]} onChange={(e) => setDays({ ...days, [d]: e.currentTarget.value })} />
          ))}
        </div>
        <Checkbox.Group label="Named holidays" value={named} onChange={setNamed}>
          <div className="checkbox-columns">
            {NAMED_HOLIDAYS.map((h) => (
              <Checkbox key={h} value={h} label={HOLIDAY_LABELS[h]} />
            ))}
          </div>
        </Checkbox.Group>
        <Textarea label="Other closed dates" description="YYYY-MM-DD, separated by commas" value={dates} onChange={(e) => setDates(e.currentTarget.value)} minRows={2} rows={2} />
        {localProblem ? (
          <Text c="red" size="sm" role="alert">
            {localProblem}
          </Text>
        ) : null}
        {save.isError ? <ErrorState error={save.error} title="Could not save" /> : null}
        <Group>
          <Button type="submit" loading={save.isPending}>
            Save
          </Button>
          <Button variant="subtle" onClick={onDone}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
