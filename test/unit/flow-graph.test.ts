import { describe, expect, it } from 'vitest';
import { checkFlowGraph, promptsOf, stopsForCaller } from '../../src/calls/flow-graph.js';
import { parseFlowDocument } from '../../src/calls/flow-schema.js';
import type { Flow } from '../../src/calls/flow-types.js';
import { everyKindDoc, minimalDoc, type Doc } from '../fixtures/flows/docs.js';

const FILE = 'callflows/test.yaml';

function flowOf(doc: Doc): Flow {
  return parseFlowDocument(doc, FILE);
}

function node(doc: Doc, id: string): Record<string, unknown> {
  const n = doc.nodes[id];
  if (n === undefined) throw new Error(`no node ${id} in test doc`);
  return n;
}

const say = (text: string, next: string): Record<string, unknown> => ({ kind: 'say', prompt: { text: { en: text } }, next });

describe('checkFlowGraph', () => {
  it('accepts a flow whose disclose node is reached only through verify success', () => {
    expect(checkFlowGraph(flowOf(minimalDoc()))).toEqual([]);
  });

  describe('targets', () => {
    it('refuses an edge to an unknown node, naming node and edge', () => {
      const doc = minimalDoc();
      node(doc, 'main_menu').options = { '1': 'check', '2': 'mesage' };
      node(doc, 'check').failure = 'nowhere';
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        { file: FILE, node: 'main_menu', message: 'key 2 → unknown node "mesage"' },
        { file: FILE, node: 'check', message: 'failure → unknown node "nowhere"' },
      ]);
    });

    it('names edges as the file spells them', () => {
      const doc = minimalDoc();
      node(doc, 'main_menu').on_exhausted = 'gone';
      expect(checkFlowGraph(flowOf(doc))).toEqual([{ file: FILE, node: 'main_menu', message: 'on_exhausted → unknown node "gone"' }]);
    });

    it('refuses an unknown start node', () => {
      const doc = minimalDoc();
      doc.start = 'welcome';
      expect(checkFlowGraph(flowOf(doc))).toEqual([{ file: FILE, message: 'start → unknown node "welcome"' }]);
    });
  });

  describe('reachability', () => {
    it('refuses a node that cannot be reached from start', () => {
      const doc = minimalDoc();
      doc.nodes.orphan = say('Nobody hears this.', 'bye');
      doc.nodes.orphan_child = say('Nor this.', 'orphan');
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        { file: FILE, node: 'orphan', message: 'unreachable from start' },
        { file: FILE, node: 'orphan_child', message: 'unreachable from start' },
      ]);
    });
  });

  describe('loops without caller input', () => {
    it('refuses a cycle of say nodes, naming it', () => {
      const doc = minimalDoc();
      node(doc, 'main_menu').options = { '1': 'check', '2': 'message', '3': 'one' };
      doc.nodes.one = say('One.', 'two');
      doc.nodes.two = say('Two.', 'three');
      doc.nodes.three = say('Three.', 'one');
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        { file: FILE, node: 'one', message: 'loop with no caller input (say/hours/disclose only): one → two → three → one' },
      ]);
    });

    it('refuses a say node that leads to itself', () => {
      const doc = minimalDoc();
      node(doc, 'main_menu').options = { '1': 'check', '2': 'message', '3': 'again' };
      doc.nodes.again = say('Again.', 'again');
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        { file: FILE, node: 'again', message: 'loop with no caller input (say/hours/disclose only): again → again' },
      ]);
    });

    it('refuses a loop through hours and disclose nodes', () => {
      const doc = minimalDoc();
      node(doc, 'appointment').next = 'hours';
      doc.nodes.hours = { kind: 'hours', open: 'appointment', closed: 'main_menu', holiday: 'main_menu' };
      const problems = checkFlowGraph(flowOf(doc));
      expect(problems).toEqual([
        { file: FILE, node: 'appointment', message: 'loop with no caller input (say/hours/disclose only): appointment → hours → appointment' },
      ]);
    });

    it('accepts a loop that passes a node waiting for the caller', () => {
      const doc = minimalDoc();
      node(doc, 'main_menu').options = { '1': 'check', '2': 'message', '0': 'repeat' };
      doc.nodes.repeat = say('Here are the options again.', 'main_menu');
      expect(checkFlowGraph(flowOf(doc))).toEqual([]);
    });

    it('treats exactly menu, language, verify, dial_oncall, voicemail and transfer as stopping for the caller', () => {
      expect(['menu', 'language', 'verify', 'page_ack'].every((k) => stopsForCaller(k as 'menu'))).toBe(true);
      expect(['dial_oncall', 'voicemail', 'transfer'].every((k) => stopsForCaller(k as 'voicemail'))).toBe(true);
      expect(['say', 'hours', 'disclose', 'hangup'].some((k) => stopsForCaller(k as 'say'))).toBe(false);
    });
  });

  describe('loops without a caller keypress', () => {
    const transfer = (onFail: string): Record<string, unknown> => ({
      kind: 'transfer',
      to: 'front_desk',
      prompt: { text: { en: 'Please hold.' } },
      timeout_seconds: 25,
      on_fail: onFail,
      next: 'bye',
    });

    it('refuses a transfer whose on_fail leads to itself: an unanswered <Dial> is not the caller acting', () => {
      const doc = minimalDoc();
      node(doc, 'main_menu').options = { '1': 'check', '2': 'message', '3': 'front_desk' };
      doc.nodes.front_desk = transfer('front_desk');
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        {
          file: FILE,
          node: 'front_desk',
          message: 'loop that can repeat without a caller keypress (nobody answering a dial or a silent caller keeps it going): front_desk (on_fail) → front_desk',
        },
      ]);
    });

    it('refuses an on-call dial that falls back to itself through a say node', () => {
      const doc = minimalDoc();
      node(doc, 'main_menu').options = { '1': 'check', '2': 'message', '3': 'urgent' };
      doc.nodes.urgent = { kind: 'dial_oncall', urgency: 'urgent', prompt: { text: { en: 'Please hold.' } }, on_fail: 'sorry', next: 'bye' };
      doc.nodes.sorry = say('Nobody answered; trying again.', 'urgent');
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        {
          file: FILE,
          node: 'urgent',
          message: 'loop that can repeat without a caller keypress (nobody answering a dial or a silent caller keeps it going): urgent (on_fail) → sorry → urgent',
        },
      ]);
    });

    it('refuses a menu whose timeouts lead back to it, and a verify failure that returns to the verify node', () => {
      const doc = minimalDoc();
      node(doc, 'main_menu').on_exhausted = 'again';
      doc.nodes.again = say('Let us try that again.', 'main_menu');
      node(doc, 'check').failure = 'urgent';
      doc.nodes.urgent = { kind: 'dial_oncall', urgency: 'urgent', prompt: { text: { en: 'Please hold.' } }, on_fail: 'check', next: 'bye' };
      expect(checkFlowGraph(flowOf(doc)).map((p) => p.message.split(': ')[1])).toEqual([
        'main_menu (on_exhausted) → again → main_menu',
        'check (failure) → urgent (on_fail) → check',
      ]);
    });

    it('accepts loops that need a key: a menu option back to the menu, a transfer that fails to a menu', () => {
      const doc = minimalDoc();
      node(doc, 'main_menu').options = { '1': 'check', '2': 'message', '3': 'front_desk' };
      doc.nodes.front_desk = transfer('main_menu');
      expect(checkFlowGraph(flowOf(doc))).toEqual([]);
    });
  });

  describe('the disclosure rule', () => {
    it('refuses a disclose node reachable without verification, with the path', () => {
      const doc = minimalDoc();
      node(doc, 'main_menu').options = { '1': 'check', '2': 'message', '3': 'next_appointment' };
      doc.nodes.next_appointment = { kind: 'disclose', what: 'next_appointment', next: 'bye' };
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        {
          file: FILE,
          node: 'next_appointment',
          message: 'disclose reachable without verification: greeting → main_menu (key 3) → next_appointment',
        },
      ]);
    });

    it('refuses a disclose node reachable through verify success AND another path', () => {
      const doc = minimalDoc();
      // appointment is still the success target; the menu's exhaustion also leads there
      // (and on to the message, so that no loop without a keypress is reported as well)
      node(doc, 'main_menu').on_exhausted = 'appointment';
      node(doc, 'appointment').next = 'message';
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        {
          file: FILE,
          node: 'appointment',
          message: 'disclose reachable without verification: greeting → main_menu (on_exhausted) → appointment',
        },
      ]);
    });

    it('refuses a disclose node behind a verify failure edge', () => {
      const doc = minimalDoc();
      node(doc, 'check').failure = 'appointment';
      node(doc, 'appointment').next = 'message';
      const problems = checkFlowGraph(flowOf(doc));
      expect(problems).toContainEqual({
        file: FILE,
        node: 'appointment',
        message: 'disclose reachable without verification: greeting → main_menu (key 1) → check (failure) → appointment',
      });
    });

    it('refuses a disclose node at start, and one after another kind of branch', () => {
      const doc = minimalDoc();
      doc.start = 'appointment';
      node(doc, 'appointment').next = 'greeting';
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        { file: FILE, node: 'appointment', message: 'disclose reachable without verification: appointment' },
      ]);

      const viaHours = minimalDoc();
      node(viaHours, 'greeting').next = 'hours';
      viaHours.nodes.hours = { kind: 'hours', open: 'main_menu', closed: 'main_menu', holiday: 'appointment' };
      expect(checkFlowGraph(flowOf(viaHours))).toEqual([
        {
          file: FILE,
          node: 'appointment',
          message: 'disclose reachable without verification: greeting → hours (holiday) → appointment',
        },
      ]);
    });

    it('accepts a disclose node after a second verify node, each reached only on success', () => {
      const doc = minimalDoc();
      node(doc, 'appointment').next = 'check_again';
      doc.nodes.check_again = { ...node(doc, 'check'), success: 'appointment_again', failure: 'message' };
      doc.nodes.appointment_again = { kind: 'disclose', what: 'next_appointment', next: 'main_menu' };
      expect(checkFlowGraph(flowOf(doc))).toEqual([]);
    });
  });

  describe('verify failure reaches help', () => {
    it('refuses a verify node whose failure branch reaches no dial_oncall or voicemail node', () => {
      const doc = minimalDoc();
      node(doc, 'check').failure = 'sorry';
      doc.nodes.sorry = say('We could not verify your identity.', 'bye');
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        {
          file: FILE,
          node: 'check',
          message:
            'failure → "sorry" reaches no dial_oncall or voicemail node: a caller who fails verification must still reach help',
        },
      ]);
    });

    it('does not count help that is only behind another verify success', () => {
      const doc = minimalDoc();
      node(doc, 'check').failure = 'check_again';
      doc.nodes.check_again = { ...node(doc, 'check'), success: 'message', failure: 'bye' };
      const problems = checkFlowGraph(flowOf(doc));
      expect(problems.map((p) => p.node)).toEqual(['check', 'check_again']);
    });

    it('accepts help reached through a menu, or directly', () => {
      // minimalDoc: check fails → main_menu → key 2 → message (voicemail)
      expect(checkFlowGraph(flowOf(minimalDoc()))).toEqual([]);
      const doc = minimalDoc();
      node(doc, 'check').failure = 'urgent';
      doc.nodes.urgent = {
        kind: 'dial_oncall',
        urgency: 'urgent',
        prompt: { text: { en: 'Please hold.' } },
        on_fail: 'bye',
        next: 'bye',
      };
      expect(checkFlowGraph(flowOf(doc))).toEqual([]);
    });
  });

  describe('languages', () => {
    function bilingual(): Doc {
      const doc = minimalDoc();
      node(doc, 'greeting').next = 'language';
      doc.nodes.language = {
        kind: 'language',
        prompt: { text: { en: 'For English, press 1.', es: 'Para español, oprima 2.' } },
        options: { '1': 'en', '2': 'es' },
        timeout_seconds: 6,
        default: 'en',
        next: 'main_menu',
      };
      for (const id of ['main_menu', 'check', 'message', 'bye']) {
        for (const field of ['prompt', 'invalid', 'retry_prompt']) {
          const prompt = node(doc, id)[field] as { text: { en: string; es?: string } } | undefined;
          if (prompt !== undefined) prompt.text.es = `ES ${prompt.text.en}`;
        }
      }
      return doc;
    }

    it('accepts prompts that have text in every language offered', () => {
      expect(checkFlowGraph(flowOf(bilingual()))).toEqual([]);
    });

    it('refuses a prompt after a language node without text in a language it offers', () => {
      const doc = bilingual();
      node(doc, 'check').retry_prompt = { text: { en: 'Sorry, please try again.' } };
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        { file: FILE, node: 'check', message: 'retry_prompt: no "es" text, but language node language offers es' },
      ]);
    });

    it("refuses a language node's own prompt without text in a language it offers", () => {
      const doc = bilingual();
      node(doc, 'language').prompt = { text: { en: 'For English, press 1. Para español, oprima 2.' } };
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        { file: FILE, node: 'language', message: 'prompt: no "es" text, but language node language offers es' },
      ]);
    });

    it('counts the default language as offered', () => {
      const doc = bilingual();
      node(doc, 'language').options = { '1': 'en' };
      node(doc, 'language').default = 'es';
      node(doc, 'bye').prompt = { text: { en: 'Goodbye.' } };
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        { file: FILE, node: 'bye', message: 'prompt: no "es" text, but language node language offers es' },
      ]);
    });

    it('refuses an all_languages prompt without text in a language the flow offers', () => {
      const doc = bilingual();
      node(doc, 'greeting').all_languages = true;
      expect(checkFlowGraph(flowOf(doc))).toEqual([
        { file: FILE, node: 'greeting', message: 'prompt: no "es" text, but all_languages is set and the flow offers es' },
      ]);
    });

    it('asks nothing of prompts before the language choice, nor of English-only flows', () => {
      const doc = bilingual();
      expect(node(doc, 'greeting').prompt).toEqual({ text: { en: 'Thank you for calling {practice_name}.' } });
      expect(checkFlowGraph(flowOf(doc))).toEqual([]);
      expect(checkFlowGraph(flowOf(minimalDoc()))).toEqual([]);
    });
  });

  it('collects problems of every rule at once', () => {
    const doc = minimalDoc();
    node(doc, 'main_menu').options = { '1': 'check', '2': 'message', '3': 'appointment', '4': 'missing' };
    node(doc, 'check').failure = 'bye';
    doc.nodes.orphan = say('Nobody hears this.', 'orphan');
    const messages = checkFlowGraph(flowOf(doc)).map((p) => `${p.node ?? ''}: ${p.message.split(':')[0]}`);
    expect(messages).toEqual([
      'main_menu: key 4 → unknown node "missing"',
      'orphan: unreachable from start',
      'orphan: loop with no caller input (say/hours/disclose only)',
      'appointment: disclose reachable without verification',
      'check: failure → "bye" reaches no dial_oncall or voicemail node',
    ]);
  });
});

describe('promptsOf', () => {
  it('names every prompt field of a node', () => {
    const flow = flowOf(everyKindDoc());
    const fields = Object.fromEntries(Object.values(flow.nodes).map((n) => [n.id, promptsOf(n).map((p) => p.field)]));
    expect(fields).toMatchObject({
      main_menu: ['prompt', 'invalid'],
      check: ['prompt', 'retry_prompt'],
      appointment: [],
      hours: [],
      bye: ['prompt'],
      front_desk: ['prompt'],
    });
  });
});
