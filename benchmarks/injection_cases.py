"""The injection case set: does the wrapper inject the memory a question needs, and nothing
when the question needs none? Pure data.

Six users. Each holds memories written as a model writes them in a ``<memory>`` block (third
person, "User ..."), across the six categories, with distractors on purpose (two relatives, two
cities, two databases, ...). Each memory is asked about twice in the first person, once in the
words of the memory and once in other words; follow-ups need the turns before them ("and
what does she do?"); unrelated questions (requests, small talk, general knowledge) must
inject nothing. The users are split into two halves (``batch`` "a" and "b", written apart) so
a rule chosen on one half can be checked on the other.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DISTRACTORS",
    "FOLLOW_UPS",
    "PERSONAS",
    "Case",
    "FollowUp",
    "Persona",
    "StoredMemory",
    "cases",
]


@dataclass(frozen=True, slots=True)
class StoredMemory:
    category: str
    content: str
    questions: tuple[str, ...]
    """First-person questions whose answer is this memory."""


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A question that needs the conversation before it (``history``: role, text pairs)."""

    history: tuple[tuple[str, str], ...]
    question: str
    expected: str


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    batch: str
    memories: tuple[StoredMemory, ...]
    unrelated: tuple[str, ...]
    follow_ups: tuple[FollowUp, ...] = ()


@dataclass(frozen=True, slots=True)
class Case:
    """One request: the messages before the question, the question, the memory it needs
    (``None``: nothing should be injected), and its kind."""

    persona: str
    batch: str
    kind: str  # "direct", "paraphrase", "follow-up" or "unrelated"
    history: tuple[tuple[str, str], ...]
    question: str
    expected: str | None
    category: str | None


def M(category: str, content: str, *questions: str) -> StoredMemory:
    return StoredMemory(category, content, questions)


PERSONAS: tuple[Persona, ...] = (
    Persona(
        name="lisbon-engineer",
        batch="a",
        memories=(
            M("fact", "User lives in Lisbon", "Where do I live?", "Which city am I based in?"),
            M(
                "fact",
                "User works at Google as a site reliability engineer",
                "Where do I work?",
                "Who is my employer?",
            ),
            M(
                "preference",
                "User prefers Python for backend work",
                "Which language do I prefer for backend work?",
                "What should I write my new API service in?",
            ),
            M(
                "preference",
                "User drinks oat milk flat whites",
                "What do I usually drink?",
                "Order me my usual coffee, what is it?",
            ),
            M(
                "entity",
                "User's sister Ana is a pediatrician in Porto",
                "What does my sister do?",
                "Which city does Ana live in?",
            ),
            M(
                "entity",
                "User's brother Rui is a chef in London",
                "What is my brother's job?",
                "Who in my family cooks for a living?",
            ),
            M(
                "entity",
                "User's dog is a beagle named Biscuit",
                "What's my dog called?",
                "What breed is my pet?",
            ),
            M(
                "context",
                "User is preparing a conference talk on distributed tracing for next Friday",
                "What is my talk on Friday about?",
                "What am I presenting at the conference?",
            ),
            M(
                "decision",
                "User decided to migrate the billing service from MySQL to PostgreSQL",
                "Which database did I pick for the billing service?",
                "What did we decide about the billing migration?",
            ),
            M(
                "decision",
                "User chose Grafana Tempo as the tracing backend",
                "Which tracing backend did I choose?",
                "What did I settle on for storing traces?",
            ),
            M(
                "insight",
                "User learns best from worked examples rather than abstract explanations",
                "How do I learn best?",
                "How should you explain a new concept to me?",
            ),
            M(
                "fact",
                "User is allergic to peanuts",
                "What am I allergic to?",
                "Is there any food I must avoid?",
            ),
            M(
                "preference",
                "User likes hiking in the Sintra mountains on weekends",
                "Where do I like to go hiking?",
                "Suggest a weekend activity I would enjoy",
            ),
            M(
                "fact",
                "User's birthday is on March 14",
                "When is my birthday?",
                "What date should my friends remember to celebrate me?",
            ),
        ),
        unrelated=(
            "Explain how a TCP three-way handshake works",
            "Write a haiku about autumn leaves",
            "Hello!",
            "Thanks, that was helpful",
            "What is the capital of Australia?",
            "Convert 350 degrees Fahrenheit to Celsius",
            "Summarise the plot of Hamlet in two sentences",
            "What causes the northern lights?",
            "Give me a regular expression that matches an email address",
            "Tell me a joke",
        ),
        follow_ups=(
            FollowUp(
                (("user", "My sister called me this morning"), ("assistant", "That's nice!")),
                "What does she do for work again?",
                "User's sister Ana is a pediatrician in Porto",
            ),
            FollowUp(
                (
                    ("user", "I'm still nervous about the billing migration"),
                    ("assistant", "Migrations are stressful. What worries you most?"),
                ),
                "Remind me which database we are moving it to",
                "User decided to migrate the billing service from MySQL to PostgreSQL",
            ),
            FollowUp(
                (("user", "I need to finish my slides today"), ("assistant", "Which slides?")),
                "The ones for the talk, what was the topic?",
                "User is preparing a conference talk on distributed tracing for next Friday",
            ),
        ),
    ),
    Persona(
        name="teacher-cook",
        batch="a",
        memories=(
            M(
                "fact",
                "User teaches chemistry at a high school in Leeds",
                "What subject do I teach?",
                "What's my job?",
            ),
            M(
                "preference",
                "User is vegetarian and avoids fish",
                "Am I vegetarian?",
                "Suggest a dinner recipe I can eat",
            ),
            M(
                "preference",
                "User prefers spicy Thai and Indian food",
                "What kind of food do I like?",
                "Pick a cuisine for my dinner tonight",
            ),
            M(
                "entity",
                "User's husband Tom is an architect",
                "What does my husband do?",
                "What is Tom's profession?",
            ),
            M(
                "entity",
                "User's daughter Maya is seven and plays the violin",
                "How old is my daughter?",
                "Which instrument does Maya play?",
            ),
            M(
                "entity",
                "User's son Leo is allergic to cats",
                "Which of my kids has an allergy?",
                "Can we get a kitten for the family?",
            ),
            M(
                "context",
                "User is planning a family trip to Scotland in July",
                "Where are we going on holiday this summer?",
                "When is our family trip?",
            ),
            M(
                "decision",
                "User decided to set the year 10 chemistry exam for June 12",
                "When is the chemistry exam I set?",
                "What date did I choose for the year 10 test?",
            ),
            M(
                "insight",
                "User gets anxious about public speaking",
                "Do I get nervous speaking in public?",
                "How do I feel about giving presentations?",
            ),
            M(
                "preference",
                "User prefers handwritten notes to typing on a laptop",
                "How do I like to take notes?",
                "Should I bring my laptop to take notes at the meeting?",
            ),
            M(
                "fact",
                "User drives a blue 2015 Honda Civic",
                "What car do I drive?",
                "What colour is my car?",
            ),
            M(
                "fact",
                "User runs the school chess club on Wednesdays",
                "Which club do I run at school?",
                "What do I do on Wednesday afternoons?",
            ),
            M(
                "decision",
                "User chose to switch the family to a Mediterranean diet",
                "Which diet did we switch to?",
                "What eating plan did I pick for the family?",
            ),
            M(
                "context",
                "User is renovating the kitchen and the oven is not installed yet",
                "Can I bake a cake at home right now?",
                "How is my kitchen renovation going?",
            ),
        ),
        unrelated=(
            "How do vaccines train the immune system?",
            "Write a limerick about a cat who plays piano",
            "Good morning",
            "What's the difference between a virus and a bacterium?",
            "List three prime numbers bigger than 100",
            "How tall is Mount Everest?",
            "Translate 'where is the train station' into German",
            "What year did the Berlin Wall fall?",
            "Explain recursion to a programmer",
            "ok, got it",
        ),
        follow_ups=(
            FollowUp(
                (("user", "Tom just got home"), ("assistant", "Welcome back to him!")),
                "What does he do again?",
                "User's husband Tom is an architect",
            ),
            FollowUp(
                (
                    ("user", "Maya has a concert next week"),
                    ("assistant", "How exciting! Is she ready?"),
                ),
                "Yes! Remind me what she plays",
                "User's daughter Maya is seven and plays the violin",
            ),
            FollowUp(
                (("user", "We still haven't booked the hotels"), ("assistant", "For which trip?")),
                "The summer one. Where are we going?",
                "User is planning a family trip to Scotland in July",
            ),
        ),
    ),
    Persona(
        name="startup-founder",
        batch="a",
        memories=(
            M(
                "fact",
                "User is the founder of Nimbus, a startup selling weather data APIs",
                "What company did I found?",
                "What does my startup sell?",
            ),
            M(
                "fact",
                "User's startup raised a 2 million dollar seed round in April",
                "How much money did we raise?",
                "When did our seed round close?",
            ),
            M(
                "entity",
                "User's co-founder Priya leads engineering",
                "Who is my co-founder?",
                "Who runs engineering at my company?",
            ),
            M(
                "entity",
                "User's main investor is Harbor Ventures",
                "Who is our lead investor?",
                "Which fund backed us?",
            ),
            M(
                "preference",
                "User prefers short bullet-point answers",
                "How do I like answers formatted?",
                "Keep it brief for me, how do I want your replies?",
            ),
            M(
                "preference",
                "User prefers meetings before 11am",
                "When do I prefer to have meetings?",
                "Schedule a call with me, which time suits me?",
            ),
            M(
                "decision",
                "User decided to price the API at 49 dollars per month for the starter plan",
                "What price did we set for the starter plan?",
                "How much does our cheapest tier cost?",
            ),
            M(
                "decision",
                "User decided to hire two backend engineers before December",
                "How many engineers am I hiring?",
                "What's the hiring plan for this year?",
            ),
            M(
                "context",
                "User is preparing a board meeting deck for Thursday",
                "What am I preparing for Thursday?",
                "What deadline do I have this week?",
            ),
            M(
                "insight",
                "User's customers churn mostly because of missing historical data",
                "Why do our customers leave?",
                "What is the main reason for churn?",
            ),
            M(
                "fact",
                "User lives in Berlin and commutes by bike",
                "How do I get to work?",
                "Which city do I live in?",
            ),
            M(
                "fact",
                "User speaks German, English and Hindi",
                "Which languages do I speak?",
                "Can I read a contract written in German?",
            ),
            M(
                "insight",
                "User works best in focused blocks in the early morning",
                "When am I most productive?",
                "When should I do my deep work?",
            ),
            M(
                "context",
                "User is negotiating a partnership with the national weather service",
                "Which partnership am I negotiating?",
                "Who are we in talks with?",
            ),
        ),
        unrelated=(
            "What is the time complexity of quicksort?",
            "Write a short poem about the sea",
            "hi",
            "How many legs does a spider have?",
            "Explain the theory of relativity simply",
            "What's a good synonym for 'happy'?",
            "Who painted the Mona Lisa?",
            "Calculate 17 times 23",
            "How do I boil an egg?",
            "Cool, thanks!",
        ),
        follow_ups=(
            FollowUp(
                (
                    ("user", "Priya sent me the roadmap"),
                    ("assistant", "Great, anything surprising?"),
                ),
                "Not really. What's her role again?",
                "User's co-founder Priya leads engineering",
            ),
            FollowUp(
                (
                    ("user", "A customer asked about our pricing"),
                    ("assistant", "Which plan are they looking at?"),
                ),
                "The starter one. What did we set it at?",
                "User decided to price the API at 49 dollars per month for the starter plan",
            ),
            FollowUp(
                (("user", "The board meeting got moved"), ("assistant", "To when?")),
                "Doesn't matter. What was I preparing for it?",
                "User is preparing a board meeting deck for Thursday",
            ),
        ),
    ),
    Persona(
        name="nurse-runner",
        batch="b",
        memories=(
            M(
                "fact",
                "User works night shifts as a nurse at St Mary's hospital",
                "Which hospital do I work at?",
                "What hours do I usually work?",
            ),
            M(
                "fact",
                "User ran the Chicago marathon in 3 hours 41 minutes",
                "What was my marathon time?",
                "How fast did I run in Chicago?",
            ),
            M(
                "preference",
                "User prefers running early in the morning before sleeping after a shift",
                "When do I like to go running?",
                "What's the best time of day for my training runs?",
            ),
            M(
                "preference",
                "User dislikes horror movies",
                "Do I like horror films?",
                "Recommend a movie for my evening, what should you avoid?",
            ),
            M(
                "entity",
                "User's roommate Jess is a graphic designer",
                "What does my roommate do?",
                "Who is Jess?",
            ),
            M(
                "entity",
                "User's mother lives in Dublin and has diabetes",
                "Where does my mom live?",
                "Does my mother have any health condition?",
            ),
            M(
                "entity",
                "User's cat Pepper is a grey Maine Coon",
                "What kind of cat do I have?",
                "What's my pet's name?",
            ),
            M(
                "context",
                "User is training for a half marathon in October",
                "What race am I training for?",
                "What's my next running goal?",
            ),
            M(
                "decision",
                "User decided to apply for the intensive care nursing certification",
                "Which certification am I going for?",
                "What did I decide about my career?",
            ),
            M(
                "decision",
                "User chose the 80/20 training plan with mostly easy runs",
                "Which training plan did I pick?",
                "How hard should most of my runs be?",
            ),
            M(
                "insight",
                "User sleeps badly after consecutive night shifts",
                "How do I sleep after several nights at work?",
                "Why am I so tired this week after working three nights?",
            ),
            M(
                "fact",
                "User is lactose intolerant",
                "Can I drink regular milk?",
                "Do I have any food intolerance?",
            ),
            M(
                "preference",
                "User listens to true crime podcasts on long runs",
                "What do I listen to while running?",
                "Suggest a podcast genre for my long run",
            ),
            M(
                "context",
                "User is moving to a new apartment on the 3rd of next month",
                "When am I moving?",
                "When should I book the removal van?",
            ),
        ),
        unrelated=(
            "How does photosynthesis work?",
            "Write a sonnet about the moon",
            "hey there",
            "What's the square root of 144?",
            "Explain what a black hole is",
            "Which planet is closest to the sun?",
            "Give me three tips for writing clean code",
            "How do you say thank you in Japanese?",
            "What's the boiling point of water at sea level?",
            "great, thank you",
        ),
        follow_ups=(
            FollowUp(
                (("user", "Jess redesigned our living room"), ("assistant", "Sounds lovely!")),
                "She's talented. What does she do for a living?",
                "User's roommate Jess is a graphic designer",
            ),
            FollowUp(
                (
                    ("user", "I'm calling my mum later"),
                    ("assistant", "Say hi from me! How is she?"),
                ),
                "Not great, is she still in the same city?",
                "User's mother lives in Dublin and has diabetes",
            ),
            FollowUp(
                (("user", "My long run went well today"), ("assistant", "Nice work! How far?")),
                "Eighteen kilometres. Which race is that for again?",
                "User is training for a half marathon in October",
            ),
        ),
    ),
    Persona(
        name="student-gamer",
        batch="b",
        memories=(
            M(
                "fact",
                "User studies mechanical engineering at TU Delft",
                "What do I study?",
                "Which university do I go to?",
            ),
            M(
                "fact",
                "User is in the third year of a bachelor's degree",
                "Which year of my degree am I in?",
                "How far along am I with my studies?",
            ),
            M(
                "preference",
                "User plays Civilization VI and strategy games",
                "What games do I play?",
                "Recommend a game I would like",
            ),
            M(
                "preference",
                "User prefers studying in the library rather than at home",
                "Where do I like to study?",
                "Should I revise at home tonight?",
            ),
            M(
                "entity",
                "User's girlfriend Sofia studies medicine in Leiden",
                "What does my girlfriend study?",
                "Where is Sofia's university?",
            ),
            M(
                "entity",
                "User's best friend Daan plays bass in a band",
                "Which instrument does Daan play?",
                "Who is my best friend?",
            ),
            M(
                "context",
                "User has a thermodynamics exam on Monday",
                "When is my thermodynamics exam?",
                "What do I need to revise for this weekend?",
            ),
            M(
                "decision",
                "User decided to do a minor in robotics next semester",
                "Which minor did I choose?",
                "What will I take next semester?",
            ),
            M(
                "decision",
                "User decided to sell his old gaming laptop",
                "What am I doing with my old laptop?",
                "Should I keep the old gaming laptop?",
            ),
            M(
                "insight",
                "User procrastinates when a task has no clear deadline",
                "Why do I keep putting things off?",
                "When do I tend to procrastinate?",
            ),
            M(
                "fact",
                "User works part-time at a bike repair shop on Saturdays",
                "Where do I work on weekends?",
                "What is my part-time job?",
            ),
            M(
                "fact",
                "User is colour blind between red and green",
                "Do I have any problem with colours?",
                "Can I tell red from green on a chart?",
            ),
            M(
                "preference",
                "User likes electronic music, especially techno",
                "What music do I like?",
                "Make me a playlist, which genre?",
            ),
            M(
                "context",
                "User is building a line-following robot for the robotics club",
                "What am I building for the club?",
                "What's my current side project?",
            ),
        ),
        unrelated=(
            "What's the derivative of x squared?",
            "Write a short story about a dragon",
            "yo",
            "Who wrote Pride and Prejudice?",
            "Explain how a neural network learns",
            "What's the largest ocean on Earth?",
            "Give me a synonym for 'fast'",
            "How many continents are there?",
            "What does HTTP stand for?",
            "lol ok",
        ),
        follow_ups=(
            FollowUp(
                (("user", "Sofia is visiting this weekend"), ("assistant", "Nice! Any plans?")),
                "Maybe a museum. Remind me what she studies?",
                "User's girlfriend Sofia studies medicine in Leiden",
            ),
            FollowUp(
                (("user", "I'm so stressed about Monday"), ("assistant", "What's on Monday?")),
                "You know, the exam. Which subject is it?",
                "User has a thermodynamics exam on Monday",
            ),
            FollowUp(
                (
                    ("user", "Daan has a gig on Friday"),
                    ("assistant", "Cool! Are you going?"),
                ),
                "Yes. What does he play in the band?",
                "User's best friend Daan plays bass in a band",
            ),
        ),
    ),
    Persona(
        name="retired-gardener",
        batch="b",
        memories=(
            M(
                "fact",
                "User retired from the post office in 2019",
                "When did I retire?",
                "What was my old job?",
            ),
            M(
                "fact",
                "User grows tomatoes and courgettes in an allotment",
                "What do I grow in my allotment?",
                "Which vegetables are in my garden?",
            ),
            M(
                "preference",
                "User prefers phone calls to text messages",
                "How do I prefer to be contacted?",
                "Should my grandson text me or call?",
            ),
            M(
                "preference",
                "User enjoys crime novels by Agatha Christie",
                "Which books do I enjoy?",
                "Suggest something for me to read",
            ),
            M(
                "entity",
                "User's grandson Oliver is twelve and loves football",
                "How old is my grandson?",
                "What sport does Oliver like?",
            ),
            M(
                "entity",
                "User's late wife Margaret was a piano teacher",
                "What did my wife do?",
                "Who taught piano in my family?",
            ),
            M(
                "entity",
                "User's neighbour Frank keeps bees",
                "Which neighbour keeps bees?",
                "Where can I get local honey?",
            ),
            M(
                "context",
                "User has a hip replacement operation scheduled for next month",
                "When is my operation?",
                "What surgery am I waiting for?",
            ),
            M(
                "decision",
                "User decided to sell the caravan this autumn",
                "What am I doing with the caravan?",
                "What did I decide to sell?",
            ),
            M(
                "decision",
                "User chose to take the bus instead of driving at night",
                "How will I get home after the evening concert?",
                "Do I still drive at night?",
            ),
            M(
                "insight",
                "User forgets to take his blood pressure tablets in the evening",
                "Which medicine do I keep forgetting?",
                "Remind me, what do I often forget to do at night?",
            ),
            M(
                "fact",
                "User sings in the church choir on Sundays",
                "What do I do on Sunday mornings?",
                "Which choir am I in?",
            ),
            M(
                "preference",
                "User takes his tea with milk and two sugars",
                "How do I take my tea?",
                "Make me a cuppa the way I like it",
            ),
            M(
                "context",
                "User is writing a family history for his grandchildren",
                "What am I writing?",
                "What's my project for the grandkids?",
            ),
        ),
        unrelated=(
            "How does a refrigerator keep food cold?",
            "Write a riddle about time",
            "Hello, how are you?",
            "What's the population of Canada?",
            "Explain what inflation is",
            "What is the chemical symbol for gold?",
            "How many days are in a leap year?",
            "Give me a fun fact about octopuses",
            "Who was the first person on the moon?",
            "Thanks dear",
        ),
        follow_ups=(
            FollowUp(
                (("user", "Oliver is coming for tea"), ("assistant", "Lovely! What will you do?")),
                "Watch a match probably. How old is he now?",
                "User's grandson Oliver is twelve and loves football",
            ),
            FollowUp(
                (
                    ("user", "The hospital sent me a letter"),
                    ("assistant", "I hope it's good news. What did it say?"),
                ),
                "It's about my operation. Which one is it again?",
                "User has a hip replacement operation scheduled for next month",
            ),
            FollowUp(
                (("user", "Frank brought me a jar today"), ("assistant", "A jar of what?")),
                "Honey! What is it he keeps?",
                "User's neighbour Frank keeps bees",
            ),
        ),
    ),
)


DISTRACTORS: tuple[tuple[str, str], ...] = (
    ("fact", "User visited Iceland in 2018 and swam in a geothermal lagoon"),
    ("preference", "User is learning to knit scarves"),
    ("fact", "User collects vintage postage stamps from the 1960s"),
    ("fact", "User owns a cast-iron frying pan inherited from a grandmother"),
    ("preference", "User's favourite number is seven"),
    ("fact", "User once met a famous astronaut at an airport"),
    ("insight", "User has a fear of spiders"),
    ("preference", "User prefers window seats on long flights"),
    ("fact", "User's phone is an old iPhone with a cracked screen"),
    ("preference", "User likes the colour teal for room decorations"),
    ("fact", "User volunteered at a food bank last winter"),
    ("decision", "User decided to cancel the streaming subscription to save money"),
    ("context", "User is waiting for a parcel of printer ink"),
    ("fact", "User has two tattoos, one of a compass"),
    ("preference", "User likes board games such as Catan on family evenings"),
    ("fact", "User learned to swim only at the age of twenty"),
    ("preference", "User prefers Linux over Windows on personal computers"),
    ("decision", "User chose a standing desk for the home office"),
    ("fact", "User's apartment building has no elevator"),
    ("insight", "User finds loud open-plan offices exhausting"),
    ("preference", "User enjoys watching Formula 1 races"),
    ("fact", "User keeps a sourdough starter named Bubbles"),
    ("context", "User is repainting the bathroom this month"),
    ("fact", "User broke a wrist skateboarding as a teenager"),
    ("preference", "User prefers paper books to e-readers"),
    ("entity", "User's cousin Marco owns a pizzeria"),
    ("fact", "User donates blood twice a year"),
    ("decision", "User decided to learn Spanish with an app every day"),
    ("preference", "User dislikes the taste of coriander"),
    ("fact", "User won a local photography contest with a picture of a bridge"),
    ("context", "User's washing machine broke last week"),
    ("preference", "User likes jazz records from the 1950s"),
    ("fact", "User has a library card for the central library"),
    ("insight", "User gets headaches when skipping breakfast"),
    ("decision", "User decided to plant an olive tree on the balcony"),
    ("fact", "User's favourite football team is Benfica"),
    ("preference", "User prefers mechanical keyboards with brown switches"),
    ("context", "User is organising a surprise party for a colleague"),
    ("fact", "User has never been to Asia"),
    ("entity", "User's godmother Irene lives on a farm with goats"),
)
"""Memories every user also holds, which no question of the set asks about: the haystack."""


def cases(personas: tuple[Persona, ...] = PERSONAS) -> list[Case]:
    """Every case of the set, persona by persona."""
    out: list[Case] = []
    for p in personas:
        for memory in p.memories:
            for number, question in enumerate(memory.questions):
                kind = "direct" if number == 0 else "paraphrase"
                out.append(
                    Case(p.name, p.batch, kind, (), question, memory.content, memory.category)
                )
        for follow in p.follow_ups:
            category = next(m.category for m in p.memories if m.content == follow.expected)
            out.append(
                Case(
                    p.name,
                    p.batch,
                    "follow-up",
                    follow.history,
                    follow.question,
                    follow.expected,
                    category,
                )
            )
        for question in p.unrelated:
            out.append(Case(p.name, p.batch, "unrelated", (), question, None, None))
    return out


FOLLOW_UPS = sum(len(p.follow_ups) for p in PERSONAS)
